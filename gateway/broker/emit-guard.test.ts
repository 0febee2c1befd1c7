import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, startGateway, until } from '../test/helpers.ts';
import { PUBACK, RawClient, publishPacket } from '../test/raw-mqtt.ts';

// A burst of publishes while aedes has 100 deliveries pending used to overflow the stack inside
// mqemitter (released -> _do recursion, emit-guard.ts) and end the process with an uncaught
// RangeError. Here the burst is 150 messages for a subscriber (the pending deliveries) followed
// by 5,000 that nobody subscribes to, once from one MQTT client in one TCP write and once through
// the broker's publish API (what adapters' message API calls); the gateway must deliver every one
// and go on serving.

const BURST = 5000;

test('a burst of publishes from one MQTT client in one write does not overflow the stack', async () => {
  const g = await startGateway();
  try {
    const sub = await connect(g.url);
    await sub.subscribeAsync('a/#', { qos: 0 });
    const got: string[] = [];
    sub.on('message', (topic) => got.push(topic));
    const { client } = await RawClient.connect(g.port, { clientId: 'burst' });
    const frames: Buffer[] = [];
    for (let i = 0; i < 150; i++) frames.push(publishPacket('a/x', 'x', 0));
    for (let i = 0; i < BURST; i++) frames.push(publishPacket('b/y', 'y', 0));
    frames.push(publishPacket('a/last', 'z', 1, 7));
    client.send(Buffer.concat(frames));
    // The PUBACK of the last one: every message before it has been through aedes.
    await client.next(PUBACK, 60_000);
    await until(() => got.includes('a/last'), 'the message after the burst');
    assert.equal(got.length, 151);
    assert.equal(client.closed, false);
    client.destroy();
    await sub.endAsync();
  } finally {
    await g.stop();
  }
});

test('a burst through the broker publish API does not overflow the stack', async () => {
  const g = await startGateway();
  try {
    const sub = await connect(g.url);
    await sub.subscribeAsync('a/#', { qos: 0 });
    let got = 0;
    sub.on('message', () => got++);
    const publish = (topic: string) => g.gw.broker.publish({ topic, payload: Buffer.from('x'), qos: 0, retain: false, origin: 'adapter', clientid: 'burst-device' });
    const all = [...Array.from({ length: 150 }, () => publish('a/x')), ...Array.from({ length: BURST }, () => publish('b/y'))];
    await Promise.all(all);
    await until(() => got === 150, 'all 150 at the subscriber', 60_000);
    await publish('a/after');
    await until(() => got === 151, 'a message after the burst');
    await sub.endAsync();
  } finally {
    await g.stop();
  }
});
