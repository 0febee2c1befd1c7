import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { collect, connect, endClient, startGateway, type TestGateway } from '../test/helpers.ts';
import { PUBACK, RawClient, SUBACK, publishPacket, subscribePacket } from '../test/raw-mqtt.ts';

// MQTT 3.1.1 conformance points over real TCP, with a client that writes the bytes from the spec.

describe('broker conformance (raw MQTT 3.1.1 bytes)', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway();
  });
  after(() => g.stop());

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
