import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCapturedGateway, type LogLine } from '../bridge/test/captured-gateway.ts';
import { tempDir, until } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 item 12, "bounded": any client that may publish could fill the heap (and the disk
// snapshot) with ever-new retained topics. A new retained topic beyond broker.max_retained_messages
// or max_retained_bytes is delivered but not retained, counted, logged once; replacing or clearing
// a retained topic always works. Over real TCP, with both stores.

let mid = 0;
async function publish(pub: RawClient, topic: string, payload: string | Buffer, qos = 1, retain = true): Promise<void> {
  pub.send(publishPacket(topic, payload, qos, ++mid, retain));
  if (qos) await pub.next(PUBACK);
}

/** The retained messages a new subscriber to r/# gets: `count` of them, then none more up to a marker published after. */
async function retainedNow(port: number, pub: RawClient, count: number): Promise<string[]> {
  const { client } = await RawClient.connect(port, { clientId: `probe-${++mid}` });
  await client.subscribe(1, [['r/#', 0], ['marker', 0]]);
  const got: string[] = [];
  const one = async () => {
    const p = parsePublish(await client.next(PUBLISH));
    if (p.topic !== 'marker') got.push(`${p.topic}=${p.payload.length > 20 ? p.payload.length : p.payload.toString()}`);
    return p.topic;
  };
  while (got.length < count) await one();
  await publish(pub, 'marker', 'm', 0, false);
  while ((await one()) !== 'marker');
  client.end();
  return got.sort();
}

for (const persistence of ['memory', 'disk'] as const) {
  test(`broker.persistence ${persistence}: a full retained store refuses new retained topics (delivered, counted, one line), replaces and clears always`, async () => {
    const dir = tempDir('fieldgate-retained-');
    const lines: LogLine[] = [];
    const doc = { gateway: { data_dir: dir.path }, broker: { persistence, max_retained_messages: 3, max_retained_bytes: '2KB' } };
    let { gw, port } = await startCapturedGateway(doc, lines);
    try {
      const sub = (await RawClient.connect(port, { clientId: 'live' })).client;
      await sub.subscribe(1, [['r/#', 1]]);
      const live: string[] = [];
      const pub = (await RawClient.connect(port, { clientId: 'pub' })).client;
      const livePub = async (topic: string, payload: string | Buffer) => {
        await publish(pub, topic, payload);
        const p = parsePublish(await sub.next(PUBLISH));
        live.push(p.topic);
      };
      await livePub('r/1', 'one');
      await livePub('r/big', Buffer.alloc(1800, 0x61)); // 200 + 5 + 1800 bytes: beyond 2 KB with r/1
      await livePub('r/2', 'two');
      await livePub('r/3', 'three');
      await livePub('r/4', 'four'); // the fourth topic: beyond max_retained_messages
      assert.deepEqual(live, ['r/1', 'r/big', 'r/2', 'r/3', 'r/4'], 'every message delivered live, retained or not');
      assert.deepEqual(await retainedNow(port, pub, 3), ['r/1=one', 'r/2=two', 'r/3=three']);
      assert.equal(gw.metrics.snapshot()['messages/retained/refused'], 2);
      assert.equal(gw.metrics.snapshot()['messages/retained/count'], 3);
      const full = lines.filter((l) => /retained store full/.test(l.msg));
      assert.equal(full.length, 1, full.map((l) => l.msg).join('\n'));
      assert.match(full[0]!.msg, /^retained store full: r\/big delivered but not retained: broker\.max_retained_bytes \(2048\) reached/);

      // Replacing and clearing work while full; a cleared topic makes room.
      await livePub('r/1', 'uno');
      await livePub('r/2', '');
      await livePub('r/4', 'four');
      assert.deepEqual(await retainedNow(port, pub, 3), ['r/1=uno', 'r/3=three', 'r/4=four']);
      assert.equal(gw.metrics.snapshot()['messages/retained/refused'], 2);
      pub.end();
      sub.end();

      if (persistence === 'disk') {
        // What was kept counts after a restart: the store is still full.
        await gw.stop();
        ({ gw, port } = await startCapturedGateway(doc, lines));
        const pub2 = (await RawClient.connect(port, { clientId: 'pub2' })).client;
        await publish(pub2, 'r/5', 'five');
        assert.deepEqual(await retainedNow(port, pub2, 3), ['r/1=uno', 'r/3=three', 'r/4=four']);
        await until(() => gw.metrics.snapshot()['messages/retained/refused'] === 1, 'the refusal after the restart counted');
        pub2.end();
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  });
}

for (const persistence of ['memory', 'disk'] as const) {
  test(`broker.persistence ${persistence}: a replacement is counted by its byte delta; over max_retained_bytes it is not retained and the superseded old value is removed`, async () => {
    const dir = tempDir('fieldgate-retained-');
    const lines: LogLine[] = [];
    const doc = { gateway: { data_dir: dir.path }, broker: { persistence, max_retained_bytes: '2KB' } };
    let { gw, port } = await startCapturedGateway(doc, lines);
    try {
      const pub = (await RawClient.connect(port, { clientId: 'pub' })).client;
      await publish(pub, 'r/a', 'one');
      await publish(pub, 'r/b', 'two');
      await publish(pub, 'r/a', Buffer.alloc(1500, 0x61)); // 1,909 bytes in all: within 2 KB
      assert.deepEqual(await retainedNow(port, pub, 2), ['r/a=1500', 'r/b=two']);
      await publish(pub, 'r/b', Buffer.alloc(1500, 0x62)); // +1,497 bytes: beyond 2 KB
      assert.deepEqual(await retainedNow(port, pub, 1), ['r/a=1500'], 'neither the new nor the stale r/b retained');
      const s = gw.metrics.snapshot();
      assert.equal(s['messages/retained/refused'], 1);
      assert.equal(s['messages/retained/count'], 1);
      assert.ok((s['messages/retained/bytes'] as number) <= 2048, `retained bytes ${s['messages/retained/bytes']} within the bound`);
      const full = lines.filter((l) => /retained store full/.test(l.msg));
      assert.equal(full.length, 1, full.map((l) => l.msg).join('\n'));
      assert.match(full[0]!.msg, /^retained store full: r\/b delivered but not retained, and its old retained message removed: broker\.max_retained_bytes \(2048\) reached/);
      // Clearing always works and makes room again.
      await publish(pub, 'r/a', '');
      await publish(pub, 'r/b', Buffer.alloc(1500, 0x62));
      assert.deepEqual(await retainedNow(port, pub, 1), ['r/b=1500']);
      await publish(pub, 'r/b', Buffer.alloc(1900, 0x63)); // 2,103 bytes alone: superseded again, then restart: r/b stays gone
      pub.end();
      if (persistence === 'disk') {
        await gw.stop();
        ({ gw, port } = await startCapturedGateway(doc, lines));
        assert.equal(gw.metrics.snapshot()['messages/retained/count'], 0, 'the removal is on disk');
        const pub2 = (await RawClient.connect(port, { clientId: 'pub2' })).client;
        await publish(pub2, 'r/c', 'three');
        assert.deepEqual(await retainedNow(port, pub2, 1), ['r/c=three']);
        pub2.end();
      } else {
        assert.equal(gw.metrics.snapshot()['messages/retained/count'], 0);
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  });
}
