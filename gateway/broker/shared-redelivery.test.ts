import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { startGateway, until, type TestGateway } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, publishPacket, recordPublishes } from '../test/raw-mqtt.ts';
import { FrameTracker } from './frame-guard.ts';
import { PublishIdReader } from './shared-flight.ts';

// Issue 17 item 13: a shared-subscription member whose session ends with QoS 1 messages in flight
// (sent, no PUBACK) has them delivered to another member, as EMQX re-dispatches them; what it
// acknowledged is not delivered again. Raw MQTT 3.1.1 over TCP.

const gen = (p: Parameters<typeof mqttPacket.generate>[0]) => mqttPacket.generate(p);

test('PublishIdReader: topic and id of each QoS > 0 PUBLISH, however the stream is cut', () => {
  const stream = Buffer.concat([
    gen({ cmd: 'publish', topic: 'a/b', payload: Buffer.alloc(300, 1), qos: 1, messageId: 7, retain: false, dup: false }),
    gen({ cmd: 'publish', topic: 'q0', payload: Buffer.from('x'), qos: 0, retain: false, dup: false }),
    gen({ cmd: 'suback', messageId: 3, granted: [1] }),
    gen({ cmd: 'publish', topic: 'é/c', payload: Buffer.alloc(0), qos: 2, messageId: 65535, retain: true, dup: true }),
    gen({ cmd: 'pingresp' }),
  ]);
  for (let size = 1; size <= stream.length; size += size < 12 ? 1 : 37) {
    const seen: string[] = [];
    const r = new PublishIdReader((topic, id) => seen.push(`${topic}#${id}`));
    for (let i = 0; i < stream.length; i += size) r.feed(stream.subarray(i, i + size));
    assert.deepEqual(seen, ['a/b#7', 'é/c#65535'], `chunks of ${size}`);
  }
});

test('FrameTracker reports the ids of PUBACK and PUBREC, however the stream is cut', () => {
  const stream = Buffer.concat([
    gen({ cmd: 'publish', topic: 't', payload: Buffer.from([0x40, 0x02, 0, 9]), qos: 0, retain: false, dup: false }),
    gen({ cmd: 'puback', messageId: 513 }),
    gen({ cmd: 'pingreq' }),
    gen({ cmd: 'pubrec', messageId: 2 }),
    gen({ cmd: 'pubcomp', messageId: 4 }),
  ]);
  for (let size = 1; size <= stream.length; size++) {
    const ids: number[] = [];
    const t = new FrameTracker(1000, (id) => ids.push(id));
    for (let i = 0; i < stream.length; i += size) assert.equal(t.feed(stream.subarray(i, i + size)), 0);
    assert.deepEqual(ids, [513, 2], `chunks of ${size}`);
  }
});

/** A member that records what it gets and PUBACKs only when `ack` says so. */
async function member(g: TestGateway, clientId: string, filter: string, ack: (payload: string) => boolean, clean = true) {
  const { client } = await RawClient.connect(g.port, { clientId, clean });
  assert.deepEqual(await client.subscribe(1, [[filter, 1]]), [1]);
  const got = recordPublishes(client, ack); // also what a persistent session sent before the SUBACK
  return { client, got };
}

async function publish(g: TestGateway, topic: string, payloads: string[]): Promise<void> {
  const { client } = await RawClient.connect(g.port, { clientId: 'redelivery-pub' });
  let id = 1;
  for (const p of payloads) {
    client.send(publishPacket(topic, p, 1, id++));
    await client.next(PUBACK);
  }
  client.end();
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => `m${from + i}`);
const metric = (g: TestGateway, name: string) => g.gw.metrics.snapshot()[name] ?? 0;

describe('shared subscriptions: redelivery on member loss', () => {
  test('a clean member killed with QoS 1 in flight: every unacknowledged message goes to the other member once, acknowledged ones never', async () => {
    const g = await startGateway();
    try {
      // A acknowledges m1 and m5 only (round_robin gives A the odd ones, B the even ones).
      const a = await member(g, 'member-a', '$share/g/jobs/#', (p) => p === 'm1' || p === 'm5');
      const b = await member(g, 'member-b', '$share/g/jobs/#', () => true);
      await publish(g, 'jobs/x', range(1, 20));
      await until(() => a.got.length === 10 && b.got.length === 10, 'each member to get 10');
      assert.deepEqual(a.got, range(1, 20).filter((_, i) => i % 2 === 0));
      // The broker has read A's two PUBACKs (B acknowledged everything): 8 in flight.
      await until(() => metric(g, 'messages/shared/inflight') === 8, 'A\'s acknowledgements to reach the broker');
      a.client.destroy();
      await until(() => b.got.length === 18, 'A\'s 8 unacknowledged messages at B');
      const fromA = b.got.slice(10);
      assert.deepEqual([...fromA].sort(), ['m11', 'm13', 'm15', 'm17', 'm19', 'm3', 'm7', 'm9']);
      assert.equal(metric(g, 'messages/shared/redispatched'), 8);
      // Nothing more comes: the next message (only B is left) arrives right after them.
      await publish(g, 'jobs/x', ['last']);
      await until(() => b.got.includes('last'), 'the last message at B');
      assert.equal(b.got.length, 19);
      assert.equal(new Set(b.got).size, 19, 'no duplicates at B');
      await until(() => metric(g, 'messages/shared/inflight') === 0, 'B\'s last PUBACK to reach the broker');
      b.client.destroy();
    } finally {
      await g.stop();
    }
  });

  test('the last member lost: its in-flight messages are counted as dropped; $queue members redeliver like $share ones', async () => {
    const g = await startGateway();
    try {
      const a = await member(g, 'lone-a', '$queue/q/#', () => false);
      await publish(g, 'q/1', range(1, 3));
      await until(() => a.got.length === 3, 'A to get 3');
      a.client.destroy();
      await until(() => metric(g, 'messages/shared/dropped') === 3, 'the 3 to be counted as dropped');
      const c = await member(g, 'c', '$queue/q/#', () => false);
      const d = await member(g, 'd', '$queue/q/#', () => true);
      await publish(g, 'q/2', range(4, 5));
      await until(() => c.got.length === 1 && d.got.length === 1, 'one each');
      c.client.destroy();
      await until(() => d.got.length === 2, 'C\'s message at D');
      assert.deepEqual(d.got.sort(), ['m4', 'm5']);
      d.client.destroy();
    } finally {
      await g.stop();
    }
  });

  test('a persistent member keeps its in-flight messages while offline and gets them again itself', async () => {
    const g = await startGateway();
    try {
      const a = await member(g, 'persist-a', '$share/p/jobs/#', () => false, false);
      const b = await member(g, 'persist-b', '$share/p/jobs/#', () => true);
      await publish(g, 'jobs/y', range(1, 4));
      await until(() => a.got.length === 2 && b.got.length === 2, 'two each');
      a.client.destroy();
      await until(() => metric(g, 'subscriptions/shared/count') === 1, 'A to leave the group');
      // A comes back: aedes sends its two again from the session; now it acknowledges them.
      const again = await member(g, 'persist-a', '$share/p/jobs/#', () => true, false);
      await until(() => again.got.length === 2, 'A\'s session to send its two again');
      assert.deepEqual(again.got, a.got);
      await until(() => metric(g, 'messages/shared/inflight') === 0, 'the acknowledgements to reach the broker');
      assert.equal(metric(g, 'messages/shared/redispatched'), 0);
      assert.equal(b.got.length, 2);
      again.client.destroy();
      b.client.destroy();
    } finally {
      await g.stop();
    }
  });

  test('a persistent member\'s session ends while no member is connected: its messages wait in an offline persistent member\'s queue, not dropped', async () => {
    const g = await startGateway();
    try {
      const a = await member(g, 'offline-a', '$share/o/jobs/#', () => false, false);
      const b = await member(g, 'offline-b', '$share/o/jobs/#', () => true, false);
      await publish(g, 'jobs/z', ['m1', 'm2']);
      await until(() => a.got.length === 1 && b.got.length === 1, 'one each');
      assert.deepEqual(a.got, ['m1']);
      b.client.destroy();
      await until(() => metric(g, 'subscriptions/shared/count') === 1, 'B to leave the group');
      // A connects with clean session 1: its persistent session (holding m1) ends; B is offline.
      const fresh = await RawClient.connect(g.port, { clientId: 'offline-a', clean: true });
      await until(() => metric(g, 'messages/shared/redispatched') === 1, 'm1 handed on');
      assert.equal(metric(g, 'messages/shared/dropped'), 0);
      assert.deepEqual(g.gw.broker.sessionQueue('offline-b'), { queued: 1, inflight: 0 });
      const back = await member(g, 'offline-b', '$share/o/jobs/#', () => true, false);
      await until(() => back.got.includes('m1'), 'm1 at B when it reconnects');
      await publish(g, 'jobs/z', ['m3']);
      await until(() => back.got.includes('m3'), 'm3 at B');
      assert.deepEqual(back.got, ['m1', 'm3']);
      assert.equal(fresh.client.packets.filter((p) => p.type === PUBLISH).length, 0);
      fresh.client.destroy();
      back.client.destroy();
    } finally {
      await g.stop();
    }
  });

  for (const persistence of ['disk', 'memory'] as const) test(`a persistent member's in-flight messages go to another member when its session expires (persistence ${persistence})`, async () => {
    const g = await startGateway({ broker: { session_expiry_interval: '200ms', persistence } });
    try {
      const a = await member(g, 'expire-a', '$share/p/jobs/#', () => false, false);
      const b = await member(g, 'expire-b', '$share/p/jobs/#', () => true);
      await publish(g, 'jobs/y', range(1, 4));
      await until(() => a.got.length === 2 && b.got.length === 2, 'two each');
      a.client.destroy();
      await until(() => b.got.length === 4, 'A\'s 2 at B after its session expired');
      assert.deepEqual(b.got.slice(2).sort(), a.got.slice().sort());
      assert.equal(metric(g, 'messages/shared/redispatched'), 2);
      assert.equal(metric(g, 'sessions/expired'), 1);
      b.client.destroy();
    } finally {
      await g.stop();
    }
  });
});
