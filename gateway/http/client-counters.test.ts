// EMQX's per-client counters in GET /api/v5/clients/{clientid}, over real HTTP and MQTT:
// recv_pkt, recv_cnt, recv_msg, send_pkt, send_msg while connected; mqueue_len and inflight_cnt of
// a persistent session (a subscriber that never acknowledges, one that is offline) and inflight_cnt
// of a clean one; expiry_interval and mqueue_max from the broker's session bounds.
import assert from 'node:assert/strict';
import { connect as tcpConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, endClient, until } from '../test/helpers.ts';
import { json, startApiGateway, type ApiGateway } from './test/support.ts';

const str = (t: string) => Buffer.concat([Buffer.from([0, t.length]), Buffer.from(t)]);

/**
 * An MQTT 3.1.1 subscriber written by hand that acknowledges nothing by itself (MQTT.js always
 * does over 3.1.1): CONNECT with keepalive 0 (clean session 0 unless `clean`), then SUBSCRIBE
 * `filter` at QoS 1.
 */
function silentSubscriber(port: number, clientid: string, filter: string, clean = false): Promise<Socket> {
  const connectBody = Buffer.concat([str('MQTT'), Buffer.from([4, clean ? 0x02 : 0x00, 0, 0]), str(clientid)]);
  const subscribeBody = Buffer.concat([Buffer.from([0, 1]), str(filter), Buffer.from([1])]);
  const bytes = Buffer.concat([Buffer.from([0x10, connectBody.length]), connectBody, Buffer.from([0x82, subscribeBody.length]), subscribeBody]);
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: '127.0.0.1', port }, () => {
      s.write(bytes);
      resolve(s);
    });
    s.once('error', reject);
  });
}

/** The packet ids of the QoS 1 PUBLISH packets in what a silent subscriber has read (one-byte lengths: short test messages). */
function publishIds(bytes: Buffer): number[] {
  const ids: number[] = [];
  for (let i = 0; i + 1 < bytes.length; i += 2 + bytes[i + 1]!) {
    if (bytes[i]! >> 4 !== 3 || ((bytes[i]! >> 1) & 3) === 0) continue;
    const topicLen = bytes.readUInt16BE(i + 2);
    ids.push(bytes.readUInt16BE(i + 4 + topicLen));
  }
  return ids;
}

describe('HTTP API: client counters', () => {
  let g: ApiGateway;
  const clients: MqttClient[] = [];
  before(async () => {
    g = await startApiGateway({ broker: { session_expiry_interval: '90s', max_queued_messages: 50 } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await g.stop();
  });
  const client = async (id: string) => json(await fetch(`${g.api}/api/v5/clients/${id}`));

  test('packets and messages received and sent; a clean session has no queue', async () => {
    const sub = await connect(g.url, { clientId: 'cnt-sub', keepalive: 0 });
    const pub = await connect(g.url, { clientId: 'cnt-pub', keepalive: 0 });
    clients.push(sub, pub);
    await sub.subscribeAsync('cnt/#', { qos: 1 });
    let got = 0;
    sub.on('message', () => got++);
    for (let i = 0; i < 3; i++) await pub.publishAsync('cnt/x', `m${i}`, { qos: 1 });
    await until(() => got === 3, 'three messages delivered');
    const p = await client('cnt-pub');
    // CONNECT and three PUBLISH; the PUBACKs went the other way.
    assert.equal(p.recv_pkt, 4);
    assert.equal(p.recv_msg, 3);
    assert.ok(p.recv_cnt >= 1 && p.recv_cnt <= 4, `socket reads ${p.recv_cnt}`);
    assert.equal(p.send_msg, 0);
    // CONNACK and three PUBACKs.
    assert.equal(p.send_pkt, 4);
    assert.equal(p.mqueue_len, 0);
    assert.equal(p.inflight_cnt, 0);
    assert.equal(p.expiry_interval, 0, 'a clean session ends with its connection');
    assert.equal(p.mqueue_max, 50);
    await until(async () => (await client('cnt-sub')).recv_pkt === 5, 'the subscriber\'s PUBACKs counted');
    const s = await client('cnt-sub');
    // CONNECT, SUBSCRIBE and a PUBACK for each message.
    assert.equal(s.recv_pkt, 5);
    assert.equal(s.send_msg, 3);
    // CONNACK, SUBACK and three PUBLISH.
    assert.equal(s.send_pkt, 5);
    assert.equal(s.inflight_cnt, 0, 'every message acknowledged');
    assert.equal(s.recv_msg, 0);
    assert.equal(g.gw.metrics.snapshot()['messages/sent'], 3, 'the broker-wide count');
  });

  test('send_pkt counts frames whose length takes two and three bytes', async () => {
    const sub = await connect(g.url, { clientId: 'cnt-big', keepalive: 0 });
    const pub = await connect(g.url, { clientId: 'cnt-bigpub', keepalive: 0 });
    clients.push(sub, pub);
    await sub.subscribeAsync('big/#', { qos: 0 });
    const sizes: number[] = [];
    sub.on('message', (_t, payload: Buffer) => sizes.push(payload.length));
    for (const n of [200, 70_000, 5]) await pub.publishAsync('big/x', Buffer.alloc(n, 0x61), { qos: 0 });
    await until(() => sizes.length === 3, 'three messages delivered');
    // CONNACK, SUBACK, three PUBLISH.
    assert.equal((await client('cnt-big')).send_pkt, 5);
  });

  test('a persistent session: unacknowledged messages are in flight, an offline one queues', async () => {
    // A subscriber that never sends PUBACK: its messages stay in flight.
    const slow = await silentSubscriber(Number(new URL(g.url).port), 'cnt-slow', 'slow/#');
    await until(async () => (await client('cnt-slow')).subscriptions_cnt === 1, 'cnt-slow subscribed');
    const away = await connect(g.url, { clientId: 'cnt-away', clean: false, keepalive: 0 });
    await away.subscribeAsync('slow/#', { qos: 1 });
    await endClient(away);
    await until(async () => (await client('cnt-away')).connected === false, 'cnt-away offline');
    const pub = await connect(g.url, { clientId: 'cnt-pub2' });
    clients.push(pub);
    for (let i = 0; i < 2; i++) await pub.publishAsync('slow/x', `m${i}`, { qos: 1 });
    await until(async () => (await client('cnt-slow')).inflight_cnt === 2, 'two messages in flight');
    const s = await client('cnt-slow');
    assert.equal(s.mqueue_len, 0);
    assert.equal(s.send_msg, 2);
    const a = await client('cnt-away');
    assert.equal(a.mqueue_len, 2);
    assert.equal(a.inflight_cnt, 0);
    assert.equal(a.expiry_interval, 90, 'broker.session_expiry_interval, in seconds');
    assert.equal(a.mqueue_max, 50);
    assert.equal('recv_pkt' in a, false, 'connection counters only while connected');
    assert.equal('send_pkt' in a, false);
    slow.destroy();
  });

  test('a clean session: QoS 1 messages written and not acknowledged are in flight until their PUBACK', async () => {
    const sock = await silentSubscriber(Number(new URL(g.url).port), 'cnt-clean', 'clean/#', true);
    let read = Buffer.alloc(0);
    sock.on('data', (b: Buffer) => (read = Buffer.concat([read, b])));
    await until(async () => (await client('cnt-clean')).subscriptions_cnt === 1, 'cnt-clean subscribed');
    const pub = await connect(g.url, { clientId: 'cnt-pub3' });
    clients.push(pub);
    for (let i = 0; i < 3; i++) await pub.publishAsync('clean/x', `m${i}`, { qos: 1 });
    await until(() => publishIds(read).length === 3, 'three PUBLISH read by the subscriber');
    let c = await client('cnt-clean');
    assert.equal(c.inflight_cnt, 3);
    assert.equal(c.send_pkt, 5, 'CONNACK, SUBACK, three PUBLISH');
    assert.equal(c.expiry_interval, 0);
    const [first] = publishIds(read);
    sock.write(Buffer.from([0x40, 2, first! >> 8, first! & 0xff])); // PUBACK
    await until(async () => (await client('cnt-clean')).inflight_cnt === 2, 'one acknowledged');
    c = await client('cnt-clean');
    assert.equal(c.recv_pkt, 3, 'CONNECT, SUBSCRIBE, PUBACK');
    sock.destroy();
  });
});
