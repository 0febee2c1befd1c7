import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startGateway, until } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, publishPacket } from '../test/raw-mqtt.ts';

// broker.queue_qos0 (issue 17 item 12): QoS 0 messages are queued for offline persistent sessions
// when enabled, and not by default (EMQX's mqueue_store_qos0).

async function scenario(queueQos0: boolean): Promise<{ topic: string; qos: number; payload: string }[]> {
  const g = await startGateway({ broker: { queue_qos0: queueQos0 } });
  try {
    const { client } = await RawClient.connect(g.port, { clientId: 'q0-sub', clean: false });
    assert.deepEqual(await client.subscribe(1, [['q0/zero/#', 0], ['q0/one/#', 1]]), [0, 1]);
    client.end();
    await client.waitClosed();
    await until(() => g.gw.metrics.snapshot()['connections/count'] === 0, 'the subscriber to be offline');
    const pub = await RawClient.connect(g.port, { clientId: 'q0-pub' });
    pub.client.send(publishPacket('q0/zero/a', 'qos0-to-qos0-sub', 0));
    pub.client.send(publishPacket('q0/one/a', 'qos0-to-qos1-sub', 0));
    pub.client.send(publishPacket('q0/zero/b', 'qos1-to-qos0-sub', 1, 1));
    await pub.client.next(PUBACK);
    pub.client.send(publishPacket('q0/one/b', 'qos1-to-qos1-sub', 1, 2));
    await pub.client.next(PUBACK);
    pub.client.end();
    const back = await RawClient.connect(g.port, { clientId: 'q0-sub', clean: false });
    assert.equal(back.sessionPresent, true);
    const got: { topic: string; qos: number; payload: string }[] = [];
    const expected = queueQos0 ? 4 : 1;
    while (got.length < expected) {
      const p = parsePublish(await back.client.next(PUBLISH));
      got.push({ topic: p.topic, qos: p.qos, payload: p.payload.toString() });
      if (p.id) back.client.send(Buffer.from([0x40, 2, p.id >> 8, p.id & 255]));
    }
    back.client.end();
    await back.client.waitClosed();
    // QoS 0 entries are sent once: a second reconnect gets nothing again.
    const third = await RawClient.connect(g.port, { clientId: 'q0-sub', clean: false });
    const marker = await RawClient.connect(g.port, { clientId: 'q0-marker' });
    marker.client.send(publishPacket('q0/one/marker', 'marker', 1, 1));
    await marker.client.next(PUBACK);
    const next = parsePublish(await third.client.next(PUBLISH));
    assert.equal(next.payload.toString(), 'marker');
    third.client.end();
    marker.client.end();
    return got.sort((a, b) => a.payload.localeCompare(b.payload));
  } finally {
    await g.stop();
  }
}

test('queue_qos0: true queues QoS 0 for offline persistent sessions, each delivered once', async () => {
  assert.deepEqual((await scenario(true)).map((m) => [m.payload, m.qos]), [
    ['qos0-to-qos0-sub', 0],
    ['qos0-to-qos1-sub', 0],
    ['qos1-to-qos0-sub', 0],
    ['qos1-to-qos1-sub', 1],
  ]);
});

test('queue_qos0: false (default) queues only QoS 1 for QoS 1 subscriptions', async () => {
  assert.deepEqual((await scenario(false)).map((m) => m.payload), ['qos1-to-qos1-sub']);
});
