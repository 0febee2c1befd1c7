import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'coap-packet';
import { Metrics } from '../../gateway/metrics/metrics.ts';
import { until } from '../../gateway/test/helpers.ts';
import { Observers, type Observer } from './observers.ts';
import type { FieldgateCoapServer, Peer } from './server.ts';

function fakeServer(id: string) {
  const sent: { buf: Buffer; peer: Peer }[] = [];
  let mid = 100;
  const server = { id, messageId: () => ++mid, sendRaw: (buf: Buffer, peer: Peer) => void sent.push({ buf, peer }) } as unknown as FieldgateCoapServer;
  return { server, sent };
}

function setup(ackTimeoutMs = 5) {
  const m = new Metrics();
  const gone: string[] = [];
  const obs = new Observers(
    { notifyType: 'qos', maxObservers: 3, maxPerClient: 2, queueMax: 2, szx: 0, ackTimeoutMs, maxRetransmit: 4 },
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
  assert.ok(sent.every((s) => s.buf.equals(sent[0].buf)), 'retransmissions are the same message');
  assert.equal(m.counter('retransmitted').value, 4);
  assert.equal(obs.size, 0);
});

test('limits, NON for QoS 0, Block2 first block for large payloads, and an ACK from the new address after a move', async () => {
  const { obs } = setup(10_000);
  const a = fakeServer('udp4');
  const o = obs.add({ clientid: 'c1', filter: 't', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('k'), subQos: 1, szx: 0 });
  obs.add({ clientid: 'c1', filter: 'u', server: a.server, peer: { address: '10.0.0.1', port: 1 }, token: Buffer.from('l'), subQos: 1, szx: 0 });
  assert.match(obs.refuse('c1')!, /limit of 2/);
  obs.add({ clientid: 'c2', filter: 't', server: a.server, peer: { address: '10.0.0.2', port: 1 }, token: Buffer.from('m'), subQos: 1, szx: 0 });
  assert.match(obs.refuse('c3')!, /limit of 3/);

  obs.deliver(o, msg('zero', 0));
  assert.equal(parse(a.sent[0].buf).confirmable, false);
  obs.deliver(o, msg('0123456789abcdefXYZ'));
  const first = parse(a.sent[1].buf);
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
  assert.equal(parse(b.sent[0].buf).payload.toString(), 'queued');
  await obs.clear();
  assert.equal(obs.size, 0);
});
