import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'coap-packet';
import { Metrics } from '../../gateway/metrics/metrics.ts';
import { until } from '../../gateway/test/helpers.ts';
import { Observers, fresher, type Observer } from './observers.ts';
import type { Peer } from '../lib/coap/index.ts';
import type { NotifyLink } from './observers.ts';

function fakeServer(id: string) {
  const sent: { buf: Buffer; peer: Peer }[] = [];
  let mid = 100;
  const server: NotifyLink = { id, messageId: () => ++mid, sendRaw: (buf: Buffer, peer: Peer) => void sent.push({ buf, peer }) };
  return { server, sent };
}

function setup(ackTimeoutMs = 5, leaseMs = 3600_000) {
  const m = new Metrics();
  const gone: string[] = [];
  const obs = new Observers(
    { notifyType: 'qos', maxObservers: 3, maxPerClient: 2, maxPerAddress: 2, leaseMs, queueMax: 2, szx: 0, ackTimeoutMs, maxRetransmit: 4 },
    { sent: m.counter('sent'), retransmitted: m.counter('retransmitted'), droppedQueueFull: m.counter('dropped'), cancelled: m.counter('cancelled') },
    (o: Observer, why: string) => gone.push(`${o.clientid}:${why}`),
  );
  return { obs, m, gone };
}

const msg = (payload: string, qos: 0 | 1 = 1) => ({ topic: 't', payload: Buffer.from(payload), qos, retain: false });

test('a CON notification never acknowledged is retransmitted 4 times, then the observation ends', async () => {
  const { obs, m, gone } = setup();
  const { server, sent } = fakeServer('udp4');
  const o = obs.add({ clientid: 'c1', filter: 't', server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('k'), subQos: 1, szx: 0 });
  obs.deliver(o, msg('x'));
  await until(() => gone.length === 1, 'observation ended');
  assert.deepEqual(gone, ['c1:notification not acknowledged']);
  assert.equal(sent.length, 5);
  assert.ok(sent.every((s) => s.buf.equals(sent[0]!.buf)), 'retransmissions are the same message');
  assert.equal(m.counter('retransmitted').value, 4);
  assert.equal(obs.size, 0);
});

test('limits, NON for QoS 0, Block2 first block for large payloads, and an ACK from the new address after a move', async () => {
  const { obs } = setup(10_000);
  const a = fakeServer('udp4');
  const o = obs.add({ clientid: 'c1', filter: 't', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('k'), subQos: 1, szx: 0 });
  obs.add({ clientid: 'c1', filter: 'u', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('l'), subQos: 1, szx: 0 });
  assert.match(obs.refuse('c1', undefined, a.server, { address: '10.0.0.9', port: 1 })!, /client c1 .*limit of 2/);
  assert.equal(obs.refuse('c1', 'someone-else', a.server, { address: '10.0.0.9', port: 1 }), undefined, 'the per-client limit is per principal');
  assert.match(obs.refuse('c9', undefined, a.server, { address: '10.0.0.1', port: 7 })!, /address 10.0.0.1 .*limit of 2/, 'any port of the address counts');
  obs.add({ clientid: 'c2', filter: 't', server: a.server, peer: { address: '10.0.0.2', port: 1 }, token: Buffer.from('m'), subQos: 1, szx: 0 });
  assert.match(obs.refuse('c3', undefined, a.server, { address: '10.0.0.3', port: 1 })!, /limit of 3/);

  obs.deliver(o, msg('zero', 0));
  assert.equal(parse(a.sent[0]!.buf).confirmable, false);
  obs.deliver(o, msg('0123456789abcdefXYZ'));
  const first = parse(a.sent[1]!.buf);
  assert.equal(first.confirmable, true);
  assert.equal(first.payload.toString(), '0123456789abcdef');
  assert.ok(first.options.some((x) => x.name === 'Block2'));
  assert.equal(obs.snapshots.get(o.key)!.toString(), '0123456789abcdefXYZ');
  obs.deliver(o, msg('queued'));
  assert.equal(a.sent.length, 2, 'one CON in flight at a time');

  // NAT rebinding: the ACK for the in-flight notification comes from the new address.
  const b = fakeServer('udp4');
  obs.moveClient('c1', b.server, { address: '10.0.0.1', port: 2 });
  assert.equal(obs.onReply(a.server, { address: '10.0.0.1', port: 1 }, first.messageId, false), false);
  assert.equal(obs.onReply(b.server, { address: '10.0.0.1', port: 2 }, first.messageId, false), true);
  assert.equal(parse(b.sent[0]!.buf).payload.toString(), 'queued');
  await obs.clear();
  assert.equal(obs.size, 0);
});

test('re-registration from a new address (rebind): the ACK of the CON notification in flight is accepted from there', async () => {
  const { obs } = setup(10_000);
  const a = fakeServer('udp4');
  const o = obs.add({ clientid: 'c1', filter: 't', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('k'), subQos: 1, szx: 0 });
  obs.deliver(o, msg('first'));
  obs.deliver(o, msg('second'));
  assert.equal(a.sent.length, 1, 'second is queued behind the CON in flight');
  const first = parse(a.sent[0]!.buf);
  obs.rebind(o, a.server, { address: '10.0.0.1', port: 2 }, Buffer.from('n'));
  assert.equal(obs.onReply(a.server, { address: '10.0.0.1', port: 2 }, first.messageId, false), true);
  assert.equal(a.sent.length, 2);
  assert.deepEqual([parse(a.sent[1]!.buf).payload.toString(), parse(a.sent[1]!.buf).token.toString(), a.sent[1]!.peer.port], ['second', 'n', 2]);
  // The address count followed the relation: the old address is free again.
  assert.equal(obs.refuse('c2', undefined, a.server, { address: '10.0.0.1', port: 1 }), undefined);
  await obs.clear();
});

test('lease: a relation without a sign of life for leaseMs is dropped; after half of it notifications go as CON', async () => {
  const { obs, gone } = setup(10_000, 1000);
  const a = fakeServer('udp4');
  const quiet = obs.add({ clientid: 'quiet', filter: 't', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('q'), subQos: 0, szx: 0 });
  const alive = obs.add({ clientid: 'alive', filter: 't', server: a.server, peer: { address: '10.0.0.2', port: 1 }, token: Buffer.from('a'), subQos: 0, szx: 0 });
  obs.deliver(alive, msg('fresh', 0));
  assert.equal(parse(a.sent[0]!.buf).confirmable, false, 'NON while the lease is young');
  alive.lastConfirmed -= 600; // past half the lease
  obs.deliver(alive, msg('probe', 0));
  const probe = parse(a.sent[1]!.buf);
  assert.equal(probe.confirmable, true, 'CON after half the lease, so the client can renew it');
  obs.onReply(a.server, { address: '10.0.0.2', port: 1 }, probe.messageId, false);
  assert.equal(await obs.expireIdle(), 0, 'nothing is past the lease yet');
  quiet.lastConfirmed -= 1001;
  assert.equal(await obs.expireIdle(), 1);
  assert.deepEqual(gone, ['quiet:lease expired']);
  assert.equal(obs.size, 1, 'the acknowledged relation stays');
  await obs.clear();
});

test('Observe is 24 bits and wraps; RFC 7641 3.4 freshness orders values across the wrap', async () => {
  const { obs } = setup(10_000);
  const a = fakeServer('udp4');
  const o = obs.add({ clientid: 'w', filter: 't', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('w'), subQos: 0, szx: 0 });
  o.seq = 0xfffffe;
  obs.deliver(o, msg('a', 0));
  obs.deliver(o, msg('b', 0));
  const observe = (b: Buffer) => parse(b).options.find((x) => x.name === 'Observe')!.value.reduce((v, x) => v * 256 + x, 0);
  const [v1, v2] = a.sent.map((s) => observe(s.buf));
  assert.deepEqual([v1, v2], [0xffffff, 0]);
  assert.ok(fresher(v1!, v2!), '0 is fresher than 0xffffff');
  assert.ok(!fresher(v2!, v1!));
  assert.ok(fresher(5, 6) && !fresher(6, 5) && !fresher(7, 7));
  assert.ok(fresher(0x800000, 0xfffffe), 'less than 2^23 ahead');
  assert.ok(!fresher(0, 0x800001), 'more than 2^23 ahead is older');
  await obs.clear();
});
