import assert from 'node:assert/strict';
import { constants, openSync, readdirSync, readFileSync, readlinkSync, statSync, truncateSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { tempDir, until } from '../test/helpers.ts';
import { READ_HANDLES, SegmentLog } from './segment-log.ts';
import type { Pos, ReadRecord } from './store.ts';

const dirs: { remove(): void }[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) d.remove();
});

function newLog(segmentBytes = 4096, dir?: string): { log: SegmentLog; dir: string } {
  if (!dir) {
    const t = tempDir('fieldgate-seglog-');
    dirs.push(t);
    dir = t.path;
  }
  return { log: new SegmentLog({ dir, name: 'normal', segmentBytes, syncInterval: 1 }), dir };
}

async function fill(log: SegmentLog, n: number, from = 0): Promise<void> {
  const writes: Promise<void>[] = [];
  for (let i = from; i < from + n; i++) writes.push(log.append([{ topic: `t/${i % 3}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false, mask: 1 }]));
  await Promise.all(writes);
}

async function readAll(log: SegmentLog, from: Pos = log.headPos()): Promise<ReadRecord[]> {
  const out: ReadRecord[] = [];
  let pos = from;
  for (;;) {
    const { records, end } = await log.read(pos, 1000);
    out.push(...records);
    if (!records.length || end.seq >= log.endPos().seq) return out;
    pos = end;
  }
}

const files = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();

/** 100 messages in one segment with a bad sector's worth of flipped bytes in the middle, reopened unopened. */
async function logWithDamagedMiddle() {
  const { log, dir } = newLog(1 << 20);
  await log.open();
  await fill(log, 100);
  await log.close();
  const file = join(dir, files(dir)[0]!);
  const buf = readFileSync(file);
  buf.fill(0x55, 1000, 1200);
  writeFileSync(file, buf);
  return newLog(1 << 20, dir).log;
}

describe('segment log', () => {
  it('appends, group-commits, reads back in order across segments and after reopening', async () => {
    const { log, dir } = newLog(2048);
    await log.open();
    await fill(log, 300);
    assert.ok(log.syncs < 300, `group commit batches appends (${log.syncs} syncs for 300 appends)`);
    assert.ok(files(dir).length > 2, 'rotated into several segments');
    const got = await readAll(log);
    assert.deepEqual(got.map((r) => r.payload.toString()), Array.from({ length: 300 }, (_, i) => `m${i}`));
    assert.deepEqual(got.map((r) => r.seq), Array.from({ length: 300 }, (_, i) => i));
    // Resuming from a record's `next` position continues exactly there.
    const mid = await log.read(got[149]!.next, 100);
    assert.equal(mid.records[0]!.seq, 150);
    await log.close();

    const again = newLog(2048, dir).log;
    const report = await again.open();
    assert.equal(report.messages, 300);
    // The first reads came from the tail cache; the reopened log reads the files: same records, same positions.
    const fromDisk = await readAll(again);
    assert.deepEqual(fromDisk.map((r) => [r.seq, r.at, r.next, r.topic, r.payload.toString()]), got.map((r) => [r.seq, r.at, r.next, r.topic, r.payload.toString()]));
    assert.deepEqual(report.damage, []);
    assert.equal(again.nextSeq, 300);
    await fill(again, 5, 300);
    const all = await readAll(again);
    assert.equal(all.length, 305);
    assert.equal(all.at(-1)!.payload.toString(), 'm304');
    await again.close();
  });

  it('truncates a torn tail on open, reports it and keeps every complete record', async () => {
    const { log, dir } = newLog(1 << 20);
    await log.open();
    await fill(log, 50);
    await log.close();
    const file = join(dir, files(dir).at(-1)!);
    const size = statSync(file).size;
    truncateSync(file, size - 7); // power cut in the middle of the last frame
    const fd = openSync(file, 'a');
    writeSync(fd, Buffer.from([0, 0, 0])); // and some garbage after it
    closeSync(fd);

    const again = newLog(1 << 20, dir).log;
    const report = await again.open();
    assert.equal(report.messages, 49);
    assert.equal(report.damage.length, 1);
    assert.equal(report.damage[0]!.action, 'truncated');
    assert.ok(statSync(file).size < size - 7, 'the torn bytes are cut off');
    await fill(again, 2, 100);
    const got = await readAll(again);
    assert.deepEqual(got.map((r) => r.payload.toString()), [...Array.from({ length: 49 }, (_, i) => `m${i}`), 'm100', 'm101']);
    await again.close();
  });

  it('skips a corrupted region in the middle, counts the messages in it, keeps the rest', async () => {
    const again = await logWithDamagedMiddle();
    const report = await again.open();
    assert.equal(report.damage.length, 1);
    assert.equal(report.damage[0]!.action, 'skipped');
    const lost = report.damage[0]!.lost!;
    assert.ok(lost >= 4 && lost <= 8, `lost ${lost}`);
    assert.equal(report.messages, 100 - lost);
    const got = await readAll(again);
    assert.equal(got.length, 100 - lost);
    assert.equal(got.at(-1)!.payload.toString(), 'm99');
    await again.close();
  });

  it('drops and releases whole sealed segments only', async () => {
    const { log, dir } = newLog(1024);
    await log.open();
    await fill(log, 200);
    const before = files(dir).length;
    const bytes = log.bytes;
    const d = log.dropOldest()!;
    assert.equal(d.firstSeq, 0);
    assert.ok(d.endSeq > 0 && d.bytes > 0);
    assert.equal(log.bytes, bytes - d.bytes);
    assert.equal(log.headPos().seq, d.endSeq);
    // A reader whose position fell into the dropped segment restarts at the oldest record left.
    const { records } = await log.read({ seq: 0, seg: 0, off: 0 }, 100);
    assert.equal(records[0]!.seq, d.endSeq);
    await log.release(log.endPos().seq);
    // release() awaits its own unlinks; the segment dropOldest() took goes in the background.
    await until(() => files(dir).length === 1, `only the active segment left (had ${before}, now ${files(dir).length})`);
    assert.equal(log.nextSeq, 200);
    await log.close();
  });
});

const openFds = (dir: string) =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return { fd, target: readlinkSync(join('/proc/self/fd', fd)) };
      } catch {
        return { fd, target: '' };
      }
    })
    .filter((f) => f.target.startsWith(dir));
const heldOpen = (dir: string) => openFds(dir).map((f) => f.target);
/** Whether the descriptor open on `file` was opened O_DSYNC (its flags in /proc/self/fdinfo, octal). */
const dsyncOn = (dir: string, file: string) => {
  const f = openFds(dir).find((o) => o.target === join(dir, file));
  if (!f) return undefined;
  const flags = parseInt(/^flags:\s+([0-7]+)/m.exec(readFileSync(join('/proc/self/fdinfo', f.fd), 'utf8'))![1]!, 8);
  return (flags & constants.O_DSYNC) !== 0;
};

describe('segment log descriptors', () => {
  it('keeps a descriptor for the active segment and a few recently read ones, not one per segment', async () => {
    const { log, dir } = newLog(1024);
    await log.open();
    await fill(log, 3000);
    const segments = files(dir).length;
    assert.ok(segments > 3 * (READ_HANDLES + 1), `many segments (${segments})`);
    assert.ok(heldOpen(dir).length <= READ_HANDLES + 1, `while writing: ${heldOpen(dir).length} open`);
    await log.close();

    const again = newLog(1024, dir).log;
    await again.open();
    assert.ok(heldOpen(dir).length <= 1, `after open: ${heldOpen(dir).length} open`);
    const got = await readAll(again);
    assert.equal(got.length, 3000);
    assert.ok(heldOpen(dir).length <= READ_HANDLES + 1, `after reading everything: ${heldOpen(dir).length} open for ${segments} segments`);
    // Many concurrent readers on different segments: a descriptor is never closed under a read.
    const starts = got.filter((_, i) => i % 50 === 0).map((r) => r.at);
    assert.ok(starts.length > 2 * READ_HANDLES);
    const reads = await Promise.all(starts.map((at) => again.read(at, 4096)));
    reads.forEach((r, i) => assert.equal(r.records[0]?.seq, starts[i]!.seq));
    await again.close();
    assert.deepEqual(heldOpen(dir), []);
  });
});

describe('segment log synchronous writes', () => {
  // An append resolves once its commit's pwrite returns: that is "on disk" only because every
  // descriptor a commit can write through was opened O_DSYNC (there is no separate fdatasync).
  // Each way the active segment gets its descriptor: created, reopened after a roll, kept from
  // the scan on open.
  it('writes every active segment through an O_DSYNC descriptor', async () => {
    const { log, dir } = newLog(1024);
    await log.open();
    await fill(log, 1);
    assert.equal(dsyncOn(dir, files(dir).at(-1)!), true, 'created by the log');
    await fill(log, 200, 1);
    assert.ok(files(dir).length > 2);
    assert.equal(dsyncOn(dir, files(dir).at(-1)!), true, 'a later segment');
    // Everything acknowledged: the active segment is replaced by an empty one, opened on the next write.
    await log.release(log.endPos().seq);
    await fill(log, 1, 201);
    assert.equal(dsyncOn(dir, files(dir).at(-1)!), true, 'opened on demand after a roll');
    await log.close();
    const again = newLog(1024, dir).log;
    await again.open();
    await fill(again, 1, 202);
    assert.equal(dsyncOn(dir, files(dir).at(-1)!), true, 'kept open from the scan on open');
    assert.equal((await readAll(again)).at(-1)?.seq, 202);
    await again.close();
  });

  it('does not with fsync off (tests of the write path only)', async () => {
    const t = tempDir('fieldgate-seglog-');
    dirs.push(t);
    const log = new SegmentLog({ dir: t.path, name: 'normal', segmentBytes: 4096, syncInterval: 0, fsync: false });
    await log.open();
    await fill(log, 1);
    assert.equal(dsyncOn(t.path, files(t.path)[0]!), false);
    await log.close();
  });
});

describe('segment log failures', () => {
  const failNextSegment = (log: SegmentLog, how: 'create' | 'dirsync') => {
    const l = log as unknown as { createSegment: (base: number) => Promise<void>; syncDir: () => void };
    if (how === 'create') {
      l.createSegment = async () => {
        throw Object.assign(new Error('no space left on device'), { code: 'ENOSPC' });
      };
    } else {
      const real = l.syncDir.bind(log);
      let failed = false;
      l.syncDir = () => {
        if (failed) return real();
        failed = true;
        throw Object.assign(new Error('input/output error'), { code: 'EIO' });
      };
    }
  };

  it('a group commit failing part-way rejects only the appends that did not reach the disk', async () => {
    const { log } = newLog(1024);
    await log.open();
    failNextSegment(log, 'create');
    // One flush: the first part fills the segment, the next needs a new one, which fails.
    const results = await Promise.allSettled(Array.from({ length: 60 }, (_, i) => log.append([{ topic: `t/${i % 3}`, payload: Buffer.from(`m${i}`), qos: 1, retain: false, mask: 1 }])));
    const ok = results.filter((r) => r.status === 'fulfilled').length;
    assert.ok(ok > 0 && ok < 60, `some appends landed (${ok} of 60)`);
    assert.deepEqual(results.map((r) => r.status), [...Array(ok).fill('fulfilled'), ...Array(60 - ok).fill('rejected')], 'a prefix landed, the rest failed');
    const onDisk = await readAll(log);
    assert.deepEqual(onDisk.map((r) => r.payload.toString()), Array.from({ length: ok }, (_, i) => `m${i}`), 'exactly the acknowledged appends are in the log');
    await log.close();
  });

  it('a failed directory fsync while creating a segment closes the new file', async () => {
    const { log, dir } = newLog(1024);
    await log.open();
    await fill(log, 20);
    failNextSegment(log, 'dirsync');
    const before = heldOpen(dir);
    await assert.rejects(fill(log, 40, 20));
    assert.deepEqual(heldOpen(dir), before, 'no descriptor left on the half-created segment');
    // The next rotation works.
    await fill(log, 40, 100);
    await log.close();
  });

  it('a damaged region is reported once, not on every read over it', async () => {
    const again = await logWithDamagedMiddle();
    const seen: number[] = [];
    again.on('damaged', (d) => seen.push(d.offset));
    const report = await again.open();
    assert.equal(report.damage.length, 1);
    for (let i = 0; i < 3; i++) await readAll(again);
    assert.deepEqual(seen, [], 'already reported by open(): reads stay quiet');
    await again.close();
  });
});

describe('segment log counter', () => {
  it('after a torn tail the next seq skips every seq the lost bytes could have held', async () => {
    const { log, dir } = newLog(1 << 20);
    await log.open();
    await fill(log, 100);
    await log.close();
    const file = join(dir, files(dir)[0]!);
    const size = statSync(file).size;
    const fd = openSync(file, 'r+');
    writeSync(fd, Buffer.alloc(1000), 0, 1000, size - 1000);
    closeSync(fd);
    const again = newLog(1 << 20, dir).log;
    const report = await again.open();
    const d = report.damage[0]!;
    assert.equal(d.action, 'truncated');
    assert.ok(d.afterSeq! < 99 && d.maxLost! * 30 >= 1000);
    assert.ok(again.nextSeq >= 100, `next seq ${again.nextSeq} would reuse an id`);
    again.advanceTo(500);
    await fill(again, 1, 500);
    const all = await readAll(again);
    assert.equal(all.at(-1)!.seq, 500);
    await again.close();
  });

  it('a fully acknowledged active segment is released (a new empty one takes its place)', async () => {
    const { log, dir } = newLog(1 << 20);
    await log.open();
    await fill(log, 50);
    assert.equal(files(dir).length, 1);
    await log.release(50);
    assert.equal(log.bytes, 0);
    assert.deepEqual(files(dir), ['0000000000000032.seg']);
    await fill(log, 3, 50);
    assert.deepEqual((await readAll(log)).map((r) => r.seq), [50, 51, 52]);
    await log.close();
  });
});
