import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startChild, stopChild } from '../test/cli.ts';
import { startGateway, tempDir, until } from '../test/helpers.ts';
import { DurablePersistence } from './durable-persistence.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 items 12 and 13 together: a QoS 1 message acknowledged to its publisher and in flight
// (sent, no PUBACK) to a persistent member of a shared subscription when the gateway is killed
// (-9). The member got it through its own session queue (aedes queues a QoS 1 delivery for a
// clean-session-0 client before writing it), so it is on disk: the member gets it again when it
// reconnects; and the member's shared subscription is still in force after the restart.
// The second test: a kill -9 right after the publisher's PUBACK, before the member's delivery
// (the member is picked before the PUBACK, so its copy is already on disk).

const tmp = tempDir('fieldgate-durable-shared-');
after(() => tmp.remove());

test('kill -9 with a QoS 1 message in flight to a persistent shared-subscription member: the member gets it again after the restart, and further messages', async () => {
  const config = join(tmp.path, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  let gw = await startChild(config);
  try {
    const port = () => Number(new URL(gw.url).port);
    const member = (await RawClient.connect(port(), { clientId: 'worker-1', clean: false })).client;
    assert.deepEqual(await member.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const pub = (await RawClient.connect(port(), { clientId: 'pub' })).client;
    pub.send(publishPacket('jobs/1', 'job one', 1, 1));
    await pub.next(PUBACK); // acknowledged to the publisher
    const first = parsePublish(await member.next(PUBLISH)); // in flight: the member never PUBACKs
    assert.equal(first.payload.toString(), 'job one');
    await stopChild(gw.child, 'SIGKILL');

    gw = await startChild(config);
    const again = await RawClient.connect(port(), { clientId: 'worker-1', clean: false });
    assert.equal(again.sessionPresent, true);
    const resent = parsePublish(await again.client.next(PUBLISH));
    assert.equal(resent.payload.toString(), 'job one');
    again.client.send(pubackPacket(resent.id!));
    // Its shared subscription survived the restart with the session: a new job reaches it.
    const pub2 = (await RawClient.connect(port(), { clientId: 'pub2' })).client;
    pub2.send(publishPacket('jobs/2', 'job two', 1, 1));
    await pub2.next(PUBACK);
    assert.equal(parsePublish(await again.client.next(PUBLISH, 5000)).payload.toString(), 'job two');
    pub2.end();
    again.client.end();
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});

test('kill -9 between the PUBACK and the delivery: a QoS 1 message for a persistent member of a shared group is on disk before its PUBACK, and stored once', async () => {
  const g = await startGateway({ broker: { shared_subscription_strategy: 'round_robin' } });
  const images: string[] = [];
  // The moment aedes writes the PUBACK (it waits for authorizePublish, which waits for this):
  // the directory as a kill -9 right after the PUBACK would leave it.
  const beforeAck = DurablePersistence.prototype.beforeAck;
  DurablePersistence.prototype.beforeAck = async function (this: DurablePersistence, ...args: Parameters<typeof beforeAck>) {
    await beforeAck.apply(this, args);
    const image = join(tmp.path, `image-${images.length}`);
    cpSync(join(g.dataDir, 'broker'), image, { recursive: true });
    images.push(image);
  };
  try {
    const w: RawClient[] = [];
    for (const id of ['worker-a', 'worker-b']) {
      const { client } = await RawClient.connect(g.port, { clientId: id, clean: false });
      assert.deepEqual(await client.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
      w.push(client);
    }
    const pub = (await RawClient.connect(g.port, { clientId: 'pub' })).client;
    const got: Record<string, string> = {};
    for (const job of ['job one', 'job two']) {
      pub.send(publishPacket('jobs/x', job, 1, 1));
      await pub.next(PUBACK);
      // Round robin: each job to one member, which never PUBACKs it.
      await until(() => w.some((c) => c.packets.some((p) => p.type === PUBLISH)), `${job} delivered`);
      const k = w.findIndex((c) => c.packets.some((p) => p.type === PUBLISH));
      got[k === 0 ? 'worker-a' : 'worker-b'] = parsePublish(await w[k]!.next(PUBLISH)).payload.toString();
    }
    assert.deepEqual(Object.values(got).sort(), ['job one', 'job two'], 'one job to each member');
    // The copy queued before the PUBACK is the one delivered, not a second one.
    for (const id of ['worker-a', 'worker-b']) assert.deepEqual(g.gw.broker.sessionQueue(id), { queued: 0, inflight: 1 }, id);
    pub.end();
    for (const c of w) c.end();
    // Restart from each image: each job is queued for the member it went to, and only there.
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    for (const [k, image] of images.entries()) {
      const q = new DurablePersistence({ dir: image, log, maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
      await q.setup({ id: 'fieldgate' });
      const sent = ['job one', 'job two'].slice(0, k + 1); // published by then, none PUBACKed by its member
      for (const id of ['worker-a', 'worker-b']) {
        const queued: string[] = [];
        for await (const m of q.outgoingStream({ id })) queued.push(String((m as { payload: Buffer }).payload));
        assert.deepEqual(queued, sent.filter((j) => got[id] === j), `image at the PUBACK of ${sent.at(-1)}, ${id}`);
      }
      await q.close();
    }
  } finally {
    DurablePersistence.prototype.beforeAck = beforeAck;
    await g.stop();
  }
});

test('the member picked before the PUBACK disconnects before the delivery: the message waits in its queue for it, and goes to no other member', async () => {
  const g = await startGateway({ broker: { shared_subscription_strategy: 'round_robin' } });
  let member: RawClient | undefined;
  const beforeAck = DurablePersistence.prototype.beforeAck;
  DurablePersistence.prototype.beforeAck = async function (this: DurablePersistence, ...args: Parameters<typeof beforeAck>) {
    await beforeAck.apply(this, args);
    // worker-a was picked (round robin, first to join); it goes away before aedes publishes.
    const gone = once(g.gw.broker, 'disconnected');
    member!.socket.destroy();
    await gone;
  };
  try {
    member = (await RawClient.connect(g.port, { clientId: 'worker-a', clean: false })).client;
    assert.deepEqual(await member.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const other = (await RawClient.connect(g.port, { clientId: 'worker-b', clean: false })).client;
    assert.deepEqual(await other.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const pub = (await RawClient.connect(g.port, { clientId: 'pub' })).client;
    pub.send(publishPacket('jobs/x', 'job one', 1, 1));
    await pub.next(PUBACK);
    DurablePersistence.prototype.beforeAck = beforeAck;
    pub.send(publishPacket('jobs/x', 'job two', 1, 2)); // worker-b's turn; also a marker: job one was handled before it
    await pub.next(PUBACK);
    assert.equal(parsePublish(await other.next(PUBLISH)).payload.toString(), 'job two');
    assert.equal(other.packets.filter((p) => p.type === PUBLISH).length, 0, 'job one did not go to worker-b');
    assert.deepEqual(g.gw.broker.sessionQueue('worker-a'), { queued: 1, inflight: 0 });
    const back = await RawClient.connect(g.port, { clientId: 'worker-a', clean: false });
    assert.equal(parsePublish(await back.client.next(PUBLISH)).payload.toString(), 'job one');
    pub.end();
    other.end();
    back.client.end();
  } finally {
    DurablePersistence.prototype.beforeAck = beforeAck;
    await g.stop();
  }
});
