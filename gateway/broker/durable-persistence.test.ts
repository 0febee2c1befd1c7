import assert from 'node:assert/strict';
import { appendFileSync, cpSync, mkdirSync, readFileSync, readdirSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { DurablePersistence } from './durable-persistence.ts';

// Issue 17 item 12: the disk-backed session store. First aedes-persistence's own abstract suite
// (the contract every aedes persistence passes), then what survives a restart of the process and
// a torn journal tail. The kill -9 of a whole gateway is in test/durable-crash.test.ts.

const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: { test: typeof test; persistence: () => unknown; testAsync: boolean }) => void;

const root = tempDir('fieldgate-durable-');
test.after(() => root.remove());
let n = 0;

interface Lines {
  warn: string[];
  error: string[];
}

function open(dir: string, lines: Lines = { warn: [], error: [] }, extra: { compactMin?: number; retryMs?: number } = {}): DurablePersistence {
  const log = { info: () => {}, warn: (_f: unknown, m: string) => lines.warn.push(m), error: (_f: unknown, m: string) => lines.error.push(m) };
  return new DurablePersistence({ dir, log: log as never, maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {}, ...extra });
}

abstractPersistence({ test, persistence: () => open(join(root.path, `suite-${++n}`)), testAsync: true });

const broker = { id: 'fieldgate' };
const client = { id: 'dev1', clean: false };

function pub(topic: string, payload: string, qos = 1, counter = 0) {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, brokerId: 'fieldgate', brokerCounter: counter };
}

async function queued(p: DurablePersistence, id = client.id): Promise<{ topic: string; payload: string; messageId?: number; qos: number }[]> {
  const out = [];
  for await (const x of p.outgoingStream({ id })) out.push({ topic: x.topic, payload: x.payload.toString(), messageId: x.messageId, qos: x.qos });
  return out;
}

async function retained(p: DurablePersistence): Promise<string[]> {
  const out = [];
  for await (const x of p.createRetainedStream('#')) out.push(`${x.topic}=${x.payload.toString()}`);
  return out.sort();
}

/** Writes a session with queued, in-flight and acknowledged messages, retained ones and QoS 2 state; never closed (as after kill -9). */
async function writeSession(dir: string): Promise<DurablePersistence> {
  const p = open(dir);
  await p.setup(broker);
  await p.addSubscriptions(client, [{ topic: 'sensors/#', qos: 1 }, { topic: 'cmd/+', qos: 2 }]);
  await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/a', 'one', 1, 1));
  await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/b', 'two', 1, 2));
  await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('cmd/x', 'three', 2, 3));
  await p.outgoingUpdate(client, { ...pub('cmd/x', 'three', 2, 3), messageId: 42 });
  await p.outgoingUpdate(client, { ...pub('sensors/a', 'one', 1, 1), messageId: 7 });
  await p.outgoingClearMessageId(client, { messageId: 7 }); // PUBACKed: must not come back
  await p.storeRetained({ ...pub('state/door', 'open', 1), retain: true });
  await p.storeRetained({ ...pub('state/lamp', 'on', 0), retain: true });
  await p.storeRetained({ ...pub('state/lamp', '', 1), retain: true }); // cleared
  await p.incomingStorePacket(client, { ...pub('in/q2', 'exactly-once', 2), messageId: 9 });
  return p;
}

test('a restart restores subscriptions, queued and in-flight messages (same packet id), retained messages and QoS 2 state; acknowledged ones stay gone', async () => {
  const dir = join(root.path, 'restart');
  const p1 = await writeSession(dir);
  const p2 = open(dir);
  await p2.setup(broker);
  assert.deepEqual((await p2.subscriptionsByClient(client)).map((s: { topic: string; qos: number }) => `${s.topic}:${s.qos}`).sort(), ['cmd/+:2', 'sensors/#:1']);
  assert.deepEqual(await queued(p2), [
    { topic: 'sensors/b', payload: 'two', messageId: undefined, qos: 1 },
    { topic: 'cmd/x', payload: 'three', messageId: 42, qos: 2 },
  ]);
  assert.deepEqual(await retained(p2), ['state/door=open']);
  assert.equal((await p2.incomingGetPacket(client, { messageId: 9 })).payload.toString(), 'exactly-once');
  assert.deepEqual(p2.restoredSessions.map((s) => s.clientId), ['dev1']);
  // aedes finds a restored message by (brokerId, brokerCounter) to give it a packet id.
  const [first] = await (async () => {
    const out = [];
    for await (const x of p2.outgoingStream(client)) out.push(x);
    return out;
  })();
  await p2.outgoingUpdate(client, { ...first, messageId: 100 });
  await p2.close();
  await p1.close();
  const p3 = open(dir);
  await p3.setup(broker);
  assert.deepEqual((await queued(p3)).map((m) => m.messageId), [100, 42]);
  await p3.close();
});

test('a clean session ends the persistent one on disk too', async () => {
  const dir = join(root.path, 'clean');
  const p1 = await writeSession(dir);
  await p1.cleanSubscriptions(client);
  await p1.cleanIncoming(client);
  await p1.close();
  const p2 = open(dir);
  await p2.setup(broker);
  assert.deepEqual(await p2.subscriptionsByClient(client), []);
  assert.deepEqual(await queued(p2), []);
  assert.deepEqual(p2.restoredSessions, []);
  await p2.close();
});

test('a torn journal tail (last write cut short, or a zeroed 4 KB page) costs only that write, with one warning', async () => {
  for (const damage of ['cut', 'zeros'] as const) {
    const dir = join(root.path, `torn-${damage}`);
    const p1 = await writeSession(dir);
    await p1.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/c', 'the torn one', 1, 10));
    await p1.close();
    const journal = join(dir, readdirSync(dir).find((f) => f.startsWith('journal.'))!);
    if (damage === 'cut') truncateSync(journal, statSync(journal).size - 5);
    else appendFileSync(journal, Buffer.alloc(4096));
    const lines = { warn: [] as string[], error: [] as string[] };
    const p2 = open(dir, lines);
    await p2.setup(broker);
    const topics = (await queued(p2)).map((m) => m.topic);
    assert.deepEqual(topics, damage === 'cut' ? ['sensors/b', 'cmd/x'] : ['sensors/b', 'cmd/x', 'sensors/c']);
    assert.equal(lines.warn.length, 1, lines.warn.join('\n'));
    assert.match(lines.warn[0]!, /unreadable bytes \(a write cut short by a crash or power cut, or storage that lost written data\): the records written there are lost/);
    assert.deepEqual(await retained(p2), ['state/door=open']);
    await p2.close();
    // The start wrote a clean snapshot: the next start has nothing to warn about.
    const lines3 = { warn: [] as string[], error: [] as string[] };
    const p3 = open(dir, lines3);
    await p3.setup(broker);
    assert.deepEqual(lines3.warn, []);
    assert.equal((await queued(p3)).length, topics.length);
    await p3.close();
  }
});

/** The sequence numbers in a journal file, read off its plain JSON (not through the reader under test). */
function seqsIn(file: string): number[] {
  return [...readFileSync(file).toString('latin1').matchAll(/"q":(\d+)/g)].map((m) => Number(m[1]));
}

test('committed records zeroed in the journal tail (storage that lost fsync\'d data): the ones before are kept, the loss reported as possibly acknowledged, sequence numbers never reused', async () => {
  const dir = join(root.path, 'zeroed-committed');
  const p1 = await writeSession(dir);
  for (const t of ['c', 'd', 'e']) await p1.outgoingEnqueueCombi([{ clientId: client.id }], pub(`sensors/${t}`, `payload-${t}`, 1, 10));
  await p1.close(); // every record committed (fdatasync'd): acknowledged
  const journal = join(dir, readdirSync(dir).find((f) => f.startsWith('journal.'))!);
  const before = readFileSync(journal);
  const highest = Math.max(...seqsIn(journal));
  // Zero from inside sensors/d's record to the end, in place (the file keeps its size): d and e lost.
  const from = before.indexOf('payload-d') - 20;
  assert.ok(from > before.indexOf('payload-c'));
  writeFileSync(journal, Buffer.concat([before.subarray(0, from), Buffer.alloc(before.length - from)]));
  const lines = { warn: [] as string[], error: [] as string[] };
  const p2 = open(dir, lines);
  await p2.setup(broker);
  assert.deepEqual((await queued(p2)).map((m) => m.topic), ['sensors/b', 'cmd/x', 'sensors/c']);
  assert.deepEqual(await retained(p2), ['state/door=open']);
  assert.equal(lines.warn.length, 1, lines.warn.join('\n'));
  const m = /ends in (\d+) unreadable bytes .*: the records written there are lost, at most (\d+) records, sequence numbers (\d+)-(\d+) at most; they may include acknowledged messages if the storage lost data it had reported written \(fdatasync\); new records are numbered after (\d+)/.exec(lines.warn[0]!);
  assert.ok(m, lines.warn[0]);
  assert.ok(Number(m[1]) >= before.length - from && Number(m[1]) < before.length - before.indexOf('payload-c'), `unreadable from sensors/d's record on: ${m[1]}`);
  assert.ok(Number(m[3]) <= highest - 1, `the range ${m[3]}-${m[4]} starts at or before sensors/d's number (${highest - 1})`);
  assert.ok(Number(m[4]) >= highest, `the range ${m[3]}-${m[4]} reaches sensors/e's number (${highest})`);
  // The next record is numbered after every one the lost tail may have held.
  await p2.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/f', 'payload-f', 1, 11));
  await p2.close();
  const after = readdirSync(dir).filter((f) => f.startsWith('journal.')).flatMap((f) => seqsIn(join(dir, f)));
  assert.ok(after.length > 0 && Math.min(...after) > Number(m[4]), `new sequence numbers ${after.join(',')} after ${m[4]} (the lost records went up to ${highest})`);
  const p3 = open(dir);
  await p3.setup(broker);
  assert.deepEqual((await queued(p3)).map((x) => x.topic), ['sensors/b', 'cmd/x', 'sensors/c', 'sensors/f']);
  await p3.close();
});

test('a damaged record in the middle of a journal (bad CRC or bad length) is skipped with one warning; the records after it are replayed', async () => {
  for (const damage of ['body', 'header'] as const) {
    const dir = join(root.path, `middle-${damage}`);
    const p1 = await writeSession(dir);
    await p1.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/c', 'after the damage', 1, 10));
    await p1.close();
    const journal = join(dir, readdirSync(dir).find((f) => f.startsWith('journal.'))!);
    const bytes = readFileSync(journal);
    // The record queueing "sensors/b": flip a byte of its body, or overwrite its length and CRC.
    const at = bytes.indexOf('sensors/b');
    if (damage === 'body') bytes[at] = bytes[at]! ^ 0xff;
    else {
      let start = 0;
      while (start + 8 + bytes.readUInt32BE(start) < at) start += 8 + bytes.readUInt32BE(start);
      bytes.fill(0xff, start, start + 8);
    }
    writeFileSync(journal, bytes);
    const lines = { warn: [] as string[], error: [] as string[] };
    const p2 = open(dir, lines);
    await p2.setup(broker);
    assert.deepEqual((await queued(p2)).map((m) => `${m.topic}:${m.messageId}`), ['cmd/x:42', 'sensors/c:undefined']);
    assert.deepEqual(await retained(p2), ['state/door=open']);
    assert.equal((await p2.incomingGetPacket(client, { messageId: 9 })).payload.toString(), 'exactly-once');
    assert.equal(lines.warn.length, 1, lines.warn.join('\n'));
    assert.match(lines.warn[0]!, new RegExp(`${journal} skipped \\d+ damaged bytes in 1 region\\(s\\) \\(at \\d+-\\d+: storage fault\\?; the records in them are lost, the ones after them replayed\\); replayed the 11 whole records$`));
    await p2.close();
  }
});

test('a QoS 1 message queued before its PUBACK (beforeAck) is on disk when that resolves, and keeps its identity once aedes publishes it', async () => {
  const dir = join(root.path, 'preack');
  mkdirSync(dir, { recursive: true });
  const p1 = open(dir);
  await p1.setup(broker);
  await p1.addSubscriptions(client, [{ topic: 'sensors/#', qos: 1 }]);
  const payload = Buffer.from('acked');
  const incoming = { cmd: 'publish', topic: 'sensors/t', payload, qos: 1, retain: true, dup: false, messageId: 5 };
  await p1.beforeAck(incoming);
  // As after kill -9 right after the PUBACK: the files as they are now hold it, queued and retained.
  const image = join(root.path, 'preack-image');
  cpSync(dir, image, { recursive: true });
  const p2 = open(image);
  await p2.setup(broker);
  assert.deepEqual((await queued(p2)).map((m) => m.payload), ['acked']);
  assert.deepEqual(await retained(p2), ['sensors/t=acked']);
  await p2.close();
  // aedes then publishes it: its enqueue and retain calls find it done (no second copy) ...
  const published = { ...pub('sensors/t', '', 1, 77), payload, retain: true };
  await p1.storeRetained(published);
  await p1.outgoingEnqueueCombi([{ clientId: client.id }], published);
  assert.equal((await queued(p1)).length, 1);
  // ... and the queued copy answers to aedes's identity from then on.
  await p1.outgoingUpdate(client, { ...published, messageId: 11 });
  await p1.close();
  const p3 = open(dir);
  await p3.setup(broker);
  assert.deepEqual((await queued(p3)).map((m) => `${m.payload}#${m.messageId}`), ['acked#11']);
  await p3.close();
});

test('compaction while serving: snapshots taken between concurrent writes lose and repeat nothing', async () => {
  const dir = join(root.path, 'compact');
  const p1 = open(dir, undefined, { compactMin: 16 * 1024 });
  await p1.setup(broker);
  await p1.addSubscriptions({ id: 'a', clean: false }, [{ topic: 'm/#', qos: 1 }]);
  await p1.addSubscriptions({ id: 'b', clean: false }, [{ topic: 'm/#', qos: 1 }]);
  const cleared = new Set<number>();
  const body = 'x'.repeat(200);
  // Eight writers, each waiting for its own fsync: records keep arriving while one is written.
  let next = 1;
  const writer = async () => {
    for (let i = next++; i <= 1500; i = next++) {
      await p1.outgoingEnqueueCombi([{ clientId: 'a' }, { clientId: 'b' }], pub(`m/${i}`, `${i}:${body}`, 1, i));
      if (i % 3 === 0) {
        // a got and PUBACKed this one
        await p1.outgoingUpdate({ id: 'a', clean: false }, { ...pub(`m/${i}`, '', 1, i), messageId: i });
        await p1.outgoingClearMessageId({ id: 'a', clean: false }, { messageId: i });
        cleared.add(i);
      }
      if (i % 50 === 0) await p1.storeRetained({ ...pub(`r/${i % 7}`, `${i}`, 1), retain: true });
    }
  };
  await Promise.all(Array.from({ length: 8 }, writer));
  await p1.addSubscriptions({ id: 'c', clean: false }, [{ topic: 'z', qos: 1 }]); // one more commit: everything before it is on disk
  const gens = readdirSync(dir).filter((f) => f.startsWith('journal.')).map((f) => Number(f.slice(8)));
  assert.ok(Math.min(...gens) >= 2, `several compactions happened (journals left: ${gens.join(', ')})`);
  const live = { a: (await queued(p1, 'a')).map((m) => Number(m.payload.split(':')[0])) };
  const image = join(root.path, 'compact-image');
  cpSync(dir, image, { recursive: true });
  await p1.close();
  for (const d of [image, dir]) {
    const p2 = open(d);
    await p2.setup(broker);
    const a = (await queued(p2, 'a')).map((m) => Number(m.payload.split(':')[0]));
    const b = (await queued(p2, 'b')).map((m) => Number(m.payload.split(':')[0]));
    const all = Array.from({ length: 1500 }, (_, i) => i + 1);
    assert.deepEqual([...b].sort((x, y) => x - y), all);
    assert.deepEqual([...a].sort((x, y) => x - y), all.filter((i) => !cleared.has(i)));
    assert.deepEqual(a, live.a, 'same order as before');
    assert.deepEqual(await retained(p2), ['r/0=1400', 'r/1=1450', 'r/2=1500', 'r/3=1200', 'r/4=1250', 'r/5=1300', 'r/6=1350']);
    await p2.close();
  }
});

test('a delivery refused at forward time (no packet id: the ACL at delivery, aedes de-duplicating overlapping subscriptions) drops its own queued copy, never another unsent message, also after a restart', async () => {
  const dir = join(root.path, 'refused');
  const p1 = open(dir);
  await p1.setup(broker);
  await p1.outgoingEnqueueCombi([{ clientId: client.id }], pub('sensors/a', 'allowed', 1, 1));
  await p1.outgoingEnqueueCombi([{ clientId: client.id }], pub('secret/b', 'denied', 1, 2));
  // aedes: getToForwardPacket() refused the second one -> outgoingClearMessageId(client, the packet as published).
  const cleared = await p1.outgoingClearMessageId(client, pub('secret/b', 'denied', 1, 2));
  assert.equal(cleared?.payload?.toString(), 'denied');
  await p1.close();
  const p2 = open(dir);
  await p2.setup(broker);
  assert.deepEqual((await queued(p2)).map((m) => m.payload), ['allowed'], 'the allowed message is still queued after a restart, the refused one is gone');
  await p2.close();
});
