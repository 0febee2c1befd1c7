import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCapturedGateway, type LogLine } from '../bridge/test/captured-gateway.ts';
import { tempDir, until } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, UNSUBACK, frame, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';

// broker.max_subscriptions (review of issue 17): one SUBSCRIBE with 1,000 filters delayed another
// client's PUBACK by 0.9-1.5 s, 3,000 made the SUBACK take over 10 s. Filters beyond the bound get
// SUBACK 0x80, the rest of the packet is granted; refused filters are never stored with a persistent
// session; a restored session over a lowered bound is kept. Raw socket over real TCP.

function unsubscribePacket(id: number, topics: string[]): Buffer {
  const parts = topics.map((t) => {
    const b = Buffer.from(t);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(b.length);
    return Buffer.concat([len, b]);
  });
  const head = Buffer.alloc(2);
  head.writeUInt16BE(id);
  return frame(10, 2, Buffer.concat([head, ...parts]));
}

let mid = 0;
async function publish(pub: RawClient, topic: string, payload: string): Promise<void> {
  pub.send(publishPacket(topic, payload, 1, ++mid));
  await pub.next(PUBACK);
}

/** The topics `sub` receives for `topics` published in order, then a marker every client holds (m). */
async function delivered(pub: RawClient, sub: RawClient, topics: string[]): Promise<string[]> {
  for (const t of topics) await publish(pub, t, t);
  const marker = `marker-${++mid}`; // a redelivered earlier marker must not end this one
  await publish(pub, 'f/0', marker);
  const got: string[] = [];
  for (;;) {
    const p = await received(sub);
    if (p.topic === 'f/0' && p.payload.toString() === marker) return got;
    if (p.payload.toString().startsWith('marker-')) continue;
    got.push(p.topic);
  }
}

/** The next PUBLISH, acknowledged (so a persistent session does not get it again). */
async function received(sub: RawClient): Promise<{ topic: string; payload: Buffer }> {
  const p = parsePublish(await sub.next(PUBLISH));
  if (p.qos > 0) sub.send(pubackPacket(p.id!));
  return p;
}

const filters = (prefix: string, n: number): [string, number][] => Array.from({ length: n }, (_, i) => [`${prefix}/${i}`, 1]);

for (const persistence of ['memory', 'disk'] as const) {
  test(`broker.persistence ${persistence}: one SUBSCRIBE with max_subscriptions + 5 filters: the bound granted, 5 x 0x80, refused ones never stored`, async () => {
    const dir = tempDir('fieldgate-subbound-');
    const lines: LogLine[] = [];
    const doc = { gateway: { data_dir: dir.path }, broker: { persistence, max_subscriptions: 10 } };
    let { gw, port } = await startCapturedGateway(doc, lines);
    try {
      let { client: sub } = await RawClient.connect(port, { clientId: 's', clean: false });
      const codes = await sub.subscribe(1, filters('f', 15));
      assert.deepEqual(codes, [...Array(10).fill(1), ...Array(5).fill(0x80)]);
      assert.equal(gw.metrics.snapshot()['subscriptions/refused'], 5);
      const refused = lines.filter((l) => /subscribe refused/.test(l.msg));
      assert.equal(refused.length, 1, refused.map((l) => l.msg).join('\n'));
      assert.match(refused[0]!.msg, /^subscribe refused \(SUBACK 0x80\): client s holds broker\.max_subscriptions \(10\) subscriptions/);
      assert.deepEqual(await sub.subscribe(2, [['f/3', 0]]), [0], 'a filter it holds may be subscribed again');

      const pub = (await RawClient.connect(port, { clientId: 'pub' })).client;
      assert.deepEqual(await delivered(pub, sub, ['f/12', 'f/9']), ['f/9']);
      // An unsubscribe makes room for one.
      sub.send(unsubscribePacket(3, ['f/9']));
      await sub.next(UNSUBACK);
      assert.deepEqual(await sub.subscribe(4, [['g/1', 1], ['g/2', 1]]), [1, 0x80]);

      // Offline: only what was granted is the session's.
      sub.end();
      await sub.waitClosed();
      await publish(pub, 'f/12', 'offline');
      await publish(pub, 'f/4', 'offline');
      let present: boolean;
      ({ client: sub, sessionPresent: present } = await RawClient.connect(port, { clientId: 's', clean: false }));
      assert.equal(present, true);
      assert.equal((await received(sub)).topic, 'f/4');
      assert.deepEqual(await delivered(pub, sub, ['f/13', 'g/2', 'g/1']), ['g/1']);
      pub.end();
      sub.end();

      if (persistence === 'disk') {
        // Restored over a lowered bound: kept, one line; new filters refused.
        await gw.stop();
        ({ gw, port } = await startCapturedGateway({ ...doc, broker: { persistence, max_subscriptions: 5 } }, lines));
        ({ client: sub } = await RawClient.connect(port, { clientId: 's', clean: false }));
        await until(() => lines.some((l) => /restored with/.test(l.msg)), 'the restore line');
        const restored = lines.filter((l) => /restored with/.test(l.msg));
        assert.equal(restored.length, 1);
        assert.match(restored[0]!.msg, /^persistent session s restored with 10 subscriptions, more than broker\.max_subscriptions \(5\): kept/);
        assert.deepEqual(await sub.subscribe(5, [['h/1', 1]]), [0x80]);
        const pub2 = (await RawClient.connect(port, { clientId: 'pub2' })).client;
        assert.deepEqual(await delivered(pub2, sub, ['f/8', 'g/1', 'h/1', 'f/12']), ['f/8', 'g/1']);
        pub2.end();
        sub.end();
      }
    } finally {
      await gw.stop();
      dir.remove();
    }
  });
}

test('auto_subscribe counts toward broker.max_subscriptions', async () => {
  const lines: LogLine[] = [];
  const { gw, port } = await startCapturedGateway({ broker: { persistence: 'memory', max_subscriptions: 2, auto_subscribe: [{ topic: 'f/0', qos: 1 }, { topic: 'a/%c', qos: 1 }, { topic: 'b/%c', qos: 1 }] } }, lines);
  try {
    const { client: sub } = await RawClient.connect(port, { clientId: 'c', clean: true });
    await until(() => gw.metrics.snapshot()['subscriptions/refused'] === 1, 'the third auto-subscription refused');
    assert.deepEqual(await sub.subscribe(1, [['x/1', 1]]), [0x80]);
    const pub = (await RawClient.connect(port, { clientId: 'pub' })).client;
    assert.deepEqual(await delivered(pub, sub, ['b/c', 'x/1', 'a/c']), ['a/c']);
    pub.end();
    sub.end();
  } finally {
    await gw.stop();
  }
});
