import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../auth/password.ts';
import { collect, connect, endClient, startGateway, until, type TestGateway } from './helpers.ts';

describe('internal broker over real TCP', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ broker: { max_queued_messages: 5, max_packet_size: 4096 }, auth: { users: [{ username: 'alice', password_hash: await hashPassword('pw') }] } });
  });
  after(() => g.stop());

  test('publish/subscribe between two MQTT clients', async () => {
    const sub = await connect(g.url, { clientId: 'sub1' });
    await sub.subscribeAsync('sensors/+/temp', { qos: 1 });
    const got = collect(sub, 2);
    const pub = await connect(g.url, { clientId: 'pub1' });
    await pub.publishAsync('sensors/a/temp', '21.5', { qos: 1 });
    await pub.publishAsync('sensors/b/temp', '19', { qos: 0 });
    await pub.publishAsync('sensors/b/humidity', 'no', { qos: 0 });
    assert.deepEqual(await got, [
      { topic: 'sensors/a/temp', payload: '21.5' },
      { topic: 'sensors/b/temp', payload: '19' },
    ]);
    await Promise.all([endClient(sub), endClient(pub)]);
  });

  test('retained message reaches a later subscriber', async () => {
    const pub = await connect(g.url);
    await pub.publishAsync('state/door', 'open', { qos: 1, retain: true });
    const sub = await connect(g.url);
    const got = collect(sub, 1);
    await sub.subscribeAsync('state/#');
    const [m] = await got;
    assert.deepEqual(m, { topic: 'state/door', payload: 'open' });
    await Promise.all([endClient(sub), endClient(pub)]);
  });

  test('persistent session keeps QoS 1 messages while offline, bounded by max_queued_messages', async () => {
    const s1 = await connect(g.url, { clientId: 'persist1', clean: false });
    await s1.subscribeAsync('q/#', { qos: 1 });
    await endClient(s1);
    const dropsBefore = g.gw.metrics.snapshot()['messages/dropped/queue_full'] ?? 0;
    const pub = await connect(g.url);
    for (let i = 0; i < 8; i++) await pub.publishAsync('q/x', `m${i}`, { qos: 1 });
    await endClient(pub);
    assert.equal(g.gw.metrics.snapshot()['messages/dropped/queue_full']! - dropsBefore, 3);
    const s2 = await connect(g.url, { clientId: 'persist1', clean: false });
    const got = await collect(s2, 5);
    // The bound drops the oldest, like EMQX's mqueue: the newest five survive, in order.
    assert.deepEqual(got.map((m) => m.payload), ['m3', 'm4', 'm5', 'm6', 'm7']);
    await endClient(s2);
  });

  test('an oversize packet closes only that connection, reason frame_too_large', async () => {
    const bystander = await connect(g.url, { clientId: 'bystander' });
    await bystander.subscribeAsync('$SYS/brokers/+/clients/big/disconnected');
    const event = collect(bystander, 1);
    const big = await connect(g.url, { clientId: 'big' });
    const closed = new Promise<void>((r) => big.once('close', () => r()));
    big.publish('big/topic', Buffer.alloc(10_000));
    await closed;
    big.end(true);
    assert.equal(JSON.parse((await event)[0]!.payload).reason, 'frame_too_large');
    await bystander.publishAsync('still/alive', 'yes', { qos: 1 });
    await endClient(bystander);
  });

  test('a socket closed without DISCONNECT reports tcp_closed', async () => {
    const mon = await connect(g.url);
    await mon.subscribeAsync('$SYS/brokers/+/clients/vanish/disconnected');
    const event = collect(mon, 1);
    const c = await connect(g.url, { clientId: 'vanish' });
    c.stream.destroy();
    assert.equal(JSON.parse((await event)[0]!.payload).reason, 'tcp_closed');
    c.end(true);
    await endClient(mon);
  });

  test('an online persistent subscriber whose queue overflows stays connected', async () => {
    const sub = await connect(g.url, { clientId: 'overflow', clean: false });
    await sub.subscribeAsync('flood/#', { qos: 1 });
    let closed = false;
    sub.on('close', () => (closed = true));
    const received: string[] = [];
    sub.on('message', (_t, p) => received.push(p.toString()));
    const pub = await connect(g.url);
    // Far more unacknowledged messages than max_queued_messages (5), without waiting for each.
    await Promise.all(Array.from({ length: 200 }, (_, i) => pub.publishAsync('flood/x', `f${i}`, { qos: 1 })));
    await pub.publishAsync('flood/x', 'last', { qos: 1 });
    await until(() => received.includes('last') || closed, 'the last message or a disconnect');
    assert.equal(closed, false, 'the subscriber was disconnected');
    await Promise.all([endClient(sub), endClient(pub)]);
  });

  test('a malformed remaining length closes the socket without affecting the broker', async () => {
    const sock = netConnect(g.port, '127.0.0.1');
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const closed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
    await closed;
    const c = await connect(g.url);
    await endClient(c);
  });

  test('$SYS connected and disconnected events carry EMQX fields', async () => {
    const mon = await connect(g.url, { clientId: 'monitor' });
    await mon.subscribeAsync('$SYS/brokers/+/clients/#');
    const events: { topic: string; body: Record<string, unknown> }[] = [];
    mon.on('message', (topic, payload) => events.push({ topic, body: JSON.parse(payload.toString()) }));
    const c = await connect(g.url, { clientId: 'evt-client', username: 'alice', password: 'pw', keepalive: 30 });
    await endClient(c);
    await until(() => events.some((e) => e.topic.endsWith('evt-client/disconnected')), 'disconnected event');
    const conn = events.find((e) => e.topic === '$SYS/brokers/fieldgate/clients/evt-client/connected')!;
    assert.ok(conn, `connected event missing: ${JSON.stringify(events.map((e) => e.topic))}`);
    for (const k of ['clientid', 'username', 'ipaddress', 'sockport', 'protocol', 'proto_name', 'proto_ver', 'connected_at', 'ts', 'keepalive', 'clean_start']) {
      assert.ok(k in conn.body, `connected lacks ${k}`);
    }
    assert.equal(conn.body.clientid, 'evt-client');
    assert.equal(conn.body.username, 'alice');
    assert.equal(conn.body.protocol, 'mqtt');
    assert.equal(conn.body.proto_ver, 4);
    assert.equal(conn.body.keepalive, 30);
    assert.equal(conn.body.sockport, g.port);
    const disc = events.find((e) => e.topic.endsWith('evt-client/disconnected'))!;
    assert.equal(disc.body.reason, 'normal');
    assert.equal(typeof disc.body.disconnected_at, 'number');
    await endClient(mon);
  });

  test('$SYS stats publish connection and message counts', async () => {
    const mon = await connect(g.url);
    // The retained value from the start comes first (0 connections then); the next publish counts this one.
    const values: number[] = [];
    mon.on('message', (_t, payload) => values.push(Number(payload.toString())));
    await mon.subscribeAsync('$SYS/brokers/fieldgate/stats/connections/count');
    g.gw.sys.publishStats();
    await until(() => values.some((v) => v >= 1), `a count of at least 1 (got ${values.join(', ')})`);
    await endClient(mon);
  });

  test('a takeover reports reason takenover for the old session', async () => {
    const mon = await connect(g.url);
    await mon.subscribeAsync('$SYS/brokers/+/clients/dup/disconnected');
    const got = collect(mon, 1);
    const a = await connect(g.url, { clientId: 'dup', clean: false });
    a.on('error', () => {});
    const b = await connect(g.url, { clientId: 'dup', clean: false });
    const [m] = await got;
    assert.equal(JSON.parse(m!.payload).reason, 'takenover');
    a.end(true);
    await endClient(b);
    await endClient(mon);
  });
});
