import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collect, connect, endClient, startGateway, type TestGateway } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, SUBACK, parsePublish, pubackPacket, publishPacket, subscribePacket } from '../test/raw-mqtt.ts';

// MQTT 3.1.1 conformance points over real TCP, with a client that writes the bytes from the spec.

describe('broker conformance (raw MQTT 3.1.1 bytes)', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway();
  });
  after(() => g.stop());

  test('[MQTT-3.3.1-9] a retained message queued for an offline persistent session arrives with RETAIN 0 (it matches an established subscription)', async () => {
    const sub = await RawClient.connect(g.port, { clientId: 'rq-sub', clean: false });
    assert.deepEqual(await sub.client.subscribe(1, [['rq/#', 1]]), [1]);
    sub.client.end();
    await sub.client.waitClosed();
    const pub = await RawClient.connect(g.port, { clientId: 'rq-pub' });
    pub.client.send(publishPacket('rq/t', 'kept', 1, 1, true));
    await pub.client.next(PUBACK);
    const back = await RawClient.connect(g.port, { clientId: 'rq-sub', clean: false });
    const got = parsePublish(await back.client.next(PUBLISH));
    assert.deepEqual([got.topic, got.payload.toString(), got.retain], ['rq/t', 'kept', false]);
    back.client.send(pubackPacket(got.id!));
    // A new subscription still gets the retained message with RETAIN 1 [MQTT-3.3.1-8].
    assert.deepEqual(await back.client.subscribe(2, [['rq/t', 1]]), [1]);
    const fresh = parsePublish(await back.client.next(PUBLISH));
    assert.deepEqual([fresh.topic, fresh.retain], ['rq/t', true]);
    back.client.send(pubackPacket(fresh.id!));
    pub.client.send(publishPacket('rq/t', '', 1, 2, true));
    await pub.client.next(PUBACK);
    back.client.end();
    pub.client.end();
  });

  test('[MQTT-3.1.3-8] zero-length client id with clean session 0: CONNACK 0x02, connection closed, no session left', async () => {
    const { client, code } = await RawClient.connect(g.port, { clientId: '', clean: false });
    assert.equal(code, 0x02);
    await client.waitClosed();
    // With clean session 1 the same empty id is accepted [MQTT-3.1.3-6].
    const ok = await RawClient.connect(g.port, { clientId: '', clean: true });
    assert.equal(ok.code, 0);
    ok.client.end();
  });

  test('[MQTT-1.5.3-2] U+0000 in a PUBLISH topic closes the connection, unacknowledged and undelivered', async () => {
    const watcher = await connect(g.url, { clientId: 'nul-watcher' });
    await watcher.subscribeAsync('#', { qos: 1 });
    const got = collect(watcher, 1);
    const { client, code } = await RawClient.connect(g.port, { clientId: 'nul-pub' });
    assert.equal(code, 0);
    client.send(publishPacket(Buffer.from('a/\u0000/b'), 'x', 1, 7));
    await client.waitClosed();
    assert.equal(client.packets.some((p) => p.type === PUBACK), false);
    // The next message a subscriber sees is a later one, not the malformed one.
    const after = await RawClient.connect(g.port, { clientId: 'nul-after' });
    after.client.send(publishPacket('ok/after', 'y', 1, 1));
    await after.client.next(PUBACK);
    assert.deepEqual(await got, [{ topic: 'ok/after', payload: 'y' }]);
    after.client.end();
    await endClient(watcher);
  });

  test('[MQTT-1.5.3-2] U+0000 in a SUBSCRIBE filter closes the connection without SUBACK', async () => {
    const { client } = await RawClient.connect(g.port, { clientId: 'nul-sub' });
    client.send(subscribePacket(1, [['a/\u0000', 0]]));
    await client.waitClosed();
    assert.equal(client.packets.some((p) => p.type === SUBACK), false);
  });
});

describe('ACL at delivery (Mosquitto semantics), raw MQTT bytes', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ auth: { acl: [{ permission: 'deny', action: 'subscribe', topics: ['test/nosubscribe'] }] } });
  });
  after(() => g.stop());

  test('+/+ and # overlapping a deny are granted; the denied topic is never delivered, live, retained or queued', async () => {
    const pub = await RawClient.connect(g.port, { clientId: 'acl-pub' });
    pub.client.send(publishPacket('test/nosubscribe', 'retained-secret', 1, 1, true));
    await pub.client.next(PUBACK);
    const other = await RawClient.connect(g.port, { clientId: 'acl-other' });
    assert.deepEqual(await other.client.subscribe(1, [['+/+', 1]]), [1]);
    other.client.end();
    const { client } = await RawClient.connect(g.port, { clientId: 'acl-sub', clean: false });
    assert.deepEqual(await client.subscribe(1, [['#', 1]]), [1]);
    // Exactly the denied topic: refused, as before.
    assert.deepEqual(await client.subscribe(2, [['test/nosubscribe', 1]]), [0x80]);
    pub.client.send(publishPacket('test/nosubscribe', 'live-secret', 1, 2));
    await pub.client.next(PUBACK);
    pub.client.send(publishPacket('test/ok', 'live-ok', 1, 3));
    await pub.client.next(PUBACK);
    const first = parsePublish(await client.next(PUBLISH));
    assert.deepEqual([first.topic, first.payload.toString()], ['test/ok', 'live-ok']);
    client.send(pubackPacket(first.id!));
    // Offline: the queue replays only what may be read.
    client.end();
    await client.waitClosed();
    pub.client.send(publishPacket('test/nosubscribe', 'queued-secret', 1, 4));
    await pub.client.next(PUBACK);
    pub.client.send(publishPacket('test/ok', 'queued-ok', 1, 5));
    await pub.client.next(PUBACK);
    const back = await RawClient.connect(g.port, { clientId: 'acl-sub', clean: false });
    const again = parsePublish(await back.client.next(PUBLISH));
    assert.deepEqual([again.topic, again.payload.toString()], ['test/ok', 'queued-ok']);
    back.client.send(pubackPacket(again.id!));
    // A marker published last arrives next: nothing denied was in between.
    pub.client.send(publishPacket('test/marker', 'end', 1, 6));
    await pub.client.next(PUBACK);
    const marker = parsePublish(await back.client.next(PUBLISH));
    assert.equal(marker.topic, 'test/marker');
    assert.equal(back.client.packets.filter((p) => p.type === PUBLISH).length, 0);
    back.client.end();
    pub.client.end();
  });
});
