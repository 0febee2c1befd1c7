import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Block1Assembler, blockSize, decodeBlock, encodeBlock, etagOf, sliceBlock, szxFor, type Block } from './block.ts';
import { rng } from '../../../gateway/test/random.ts';


const limits = { maxBody: 4096, maxBuffered: 8192, maxPerPeer: 2, maxTransfers: 100, timeoutMs: 1000 };

test('block option codec round-trips and rejects what RFC 7959 forbids', () => {
  for (const b of [{ num: 0, more: false, szx: 0 }, { num: 0, more: true, szx: 6 }, { num: 15, more: true, szx: 2 }, { num: 4095, more: false, szx: 4 }, { num: 0xfffff, more: true, szx: 6 }]) {
    assert.deepEqual(decodeBlock(encodeBlock(b)), b);
  }
  assert.equal(encodeBlock({ num: 0, more: false, szx: 0 }).length, 0);
  assert.match(decodeBlock(Buffer.from([0x07])) as string, /reserved/);
  assert.match(decodeBlock(Buffer.alloc(4)) as string, /at most 3/);
  assert.throws(() => encodeBlock({ num: 0x100000, more: false, szx: 0 }), /20 bits/);
  assert.throws(() => encodeBlock({ num: 0, more: false, szx: 7 }), /range/);
  assert.equal(blockSize(6), 1024);
  assert.equal(szxFor(1024), 6);
  assert.equal(szxFor(64), 2);
  assert.equal(szxFor(100), 2);
});

test('sliceBlock and etagOf', () => {
  const p = Buffer.from('abcdefghij');
  assert.deepEqual(sliceBlock(p, 0, 0), { data: p, more: false });
  const big = Buffer.alloc(40, 1);
  assert.equal(sliceBlock(big, 0, 0)!.more, true);
  assert.equal(sliceBlock(big, 2, 0)!.data.length, 8);
  assert.equal(sliceBlock(big, 2, 0)!.more, false);
  assert.equal(sliceBlock(big, 3, 0), undefined);
  assert.deepEqual(etagOf(Buffer.from([1, 2, 3])), Buffer.from([1 ^ 3, 2]));
});

test('Block1 reassembly: in order, repeats, gaps, size limits, per-peer and global bounds, timeout', () => {
  let now = 0;
  const a = new Block1Assembler(limits, () => now);
  const blk = (num: number, more: boolean): Block => ({ num, more, szx: 0 });
  const d = (n: number, fill: number) => Buffer.alloc(n, fill);
  assert.deepEqual(a.accept('p', 'k', blk(0, true), d(16, 1)), { kind: 'continue' });
  assert.deepEqual(a.accept('p', 'k', blk(1, true), d(16, 2)), { kind: 'continue' });
  assert.deepEqual(a.accept('p', 'k', blk(1, true), d(16, 2)), { kind: 'continue' }, 'a repeated block is acknowledged again');
  const done = a.accept('p', 'k', blk(2, false), d(3, 3));
  assert.equal(done.kind, 'complete');
  assert.deepEqual(done.kind === 'complete' && done.body, Buffer.concat([d(16, 1), d(16, 2), d(3, 3)]));
  assert.equal(a.bufferedBytes, 0);
  // A block without its predecessors, and a gap.
  assert.equal((a.accept('p', 'k', blk(1, true), d(16, 0)) as { code: string }).code, '4.08');
  a.accept('p', 'k', blk(0, true), d(16, 0));
  assert.equal((a.accept('p', 'k', blk(2, true), d(16, 0)) as { code: string }).code, '4.08');
  assert.equal(a.openTransfers, 0, 'a gap drops the upload');
  // A short non-final block is malformed.
  assert.equal((a.accept('p', 'k', blk(0, true), d(10, 0)) as { code: string }).code, '4.00');
  // Size1 announcing too much, and a body growing past maxBody.
  assert.equal((a.accept('p', 'k', blk(0, true), d(16, 0), 5000) as { code: string }).code, '4.13');
  const b = new Block1Assembler({ ...limits, maxBody: 40 }, () => now);
  b.accept('p', 'k', blk(0, true), d(16, 0));
  b.accept('p', 'k', blk(1, true), d(16, 0));
  assert.equal((b.accept('p', 'k', blk(2, true), d(16, 0)) as { code: string }).code, '4.13');
  assert.equal(b.bufferedBytes, 0);
  // Per-peer: a third upload from the same peer pushes out its oldest.
  a.accept('p', 'k1', blk(0, true), d(16, 0));
  a.accept('p', 'k2', blk(0, true), d(16, 0));
  a.accept('p', 'k3', blk(0, true), d(16, 0));
  assert.equal(a.openTransfers, 2);
  assert.equal((a.accept('p', 'k1', blk(1, false), d(1, 0)) as { code: string }).code, '4.08');
  // Global byte budget.
  const g = new Block1Assembler({ ...limits, maxBuffered: 32, maxPerPeer: 10 }, () => now);
  g.accept('p1', 'a', blk(0, true), d(16, 0));
  g.accept('p2', 'b', blk(0, true), d(16, 0));
  assert.equal((g.accept('p3', 'c', blk(0, true), d(16, 0)) as { code: string }).code, '5.03');
  // Timeout.
  now += 1001;
  a.prune();
  assert.equal(a.openTransfers, 0);
  assert.equal(a.bufferedBytes, 0);
});

test('seeded fuzz: random block sequences never throw, never exceed the budget, and complete bodies are exact', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 0xb10c);
  const r = rng(seed);
  let now = 0;
  const a = new Block1Assembler({ maxBody: 2048, maxBuffered: 6000, maxPerPeer: 3, maxTransfers: 20, timeoutMs: 500 }, () => now);
  const expected = new Map<string, Buffer>();
  let completed = 0;
  for (let i = 0; i < 20_000; i++) {
    now += Math.floor(r() * 20);
    const peer = `p${Math.floor(r() * 5)}`;
    const key = `${peer}|k${Math.floor(r() * 3)}`;
    const szx = Math.floor(r() * 3);
    const size = blockSize(szx);
    const num = r() < 0.6 ? Math.floor((expected.get(key)?.length ?? 0) / size) : Math.floor(r() * 6);
    const more = r() < 0.8;
    const len = more && r() < 0.95 ? size : Math.floor(r() * (size + 4));
    const payload = Buffer.from(Array.from({ length: len }, () => Math.floor(r() * 256)));
    const res = a.accept(peer, key, { num, more, szx }, payload, r() < 0.05 ? Math.floor(r() * 4000) : undefined);
    assert.ok(a.bufferedBytes >= 0 && a.bufferedBytes <= 6000, `seed ${seed} step ${i}: buffered ${a.bufferedBytes}`);
    assert.ok(a.openTransfers <= 20);
    // Track what a correct sender would have sent, to check completed bodies.
    const prev = expected.get(key) ?? Buffer.alloc(0);
    if (res.kind === 'continue' && num * size === prev.length) expected.set(key, Buffer.concat([prev, payload]));
    else if (res.kind === 'continue' && num === 0) expected.set(key, payload);
    else if (res.kind === 'complete') {
      completed++;
      if (num > 0 && num * size === prev.length) assert.deepEqual(res.body, Buffer.concat([prev, payload]), `seed ${seed} step ${i}`);
      assert.ok(res.body.length <= 2048);
      expected.delete(key);
    } else if (res.kind === 'error') expected.delete(key);
  }
  assert.ok(completed > 50, `only ${completed} uploads completed`);
});
