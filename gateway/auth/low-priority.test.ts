import assert from 'node:assert/strict';
import { randomBytes, scrypt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { test } from 'node:test';
import { until } from '../test/helpers.ts';
import { LowPriorityScrypt } from './low-priority.ts';
import { hashPassword, verifyPassword } from './password.ts';

// Issue 17 item 5: the checks of addresses with a failed login on record run in one thread that
// lowered its own CPU priority, so they cannot slow a clean check down. Asserted: the keys are
// scrypt's, the thread (and only the thread) runs at nice 19 on Linux, and a thread that dies
// loses no check.

const params = { N: 1024, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };
const pool = (pw: string, salt: Buffer, len: number, p: typeof params) => new Promise<Buffer>((resolve, reject) => scrypt(pw, salt, len, p, (err, key) => (err ? reject(err) : resolve(key))));

test('derives the same key as scrypt on the threadpool, in a thread at nice 19 (Linux) while the rest of the gateway keeps its priority', async () => {
  const lp = new LowPriorityScrypt();
  const before = getPriority();
  try {
    const salt = randomBytes(16);
    const key = await lp.derive('secret', salt, 32, params);
    assert.deepEqual(key, await pool('secret', salt, 32, params));
    assert.equal(lp.counts.derived, 1);
    assert.equal(lp.counts.fallbacks, 0);
    if (process.platform === 'linux') assert.equal(lp.niceness, 19);
    assert.equal(getPriority(), before, 'the main thread was reniced too');
    // A stored hash checked through it: right and wrong passwords.
    const hash = await hashPassword('right');
    assert.equal(await verifyPassword('right', hash, lp.derive), true);
    assert.equal(await verifyPassword('wrong', hash, lp.derive), false);
  } finally {
    await lp.close();
  }
});

test('a check pending when the thread ends finishes on the threadpool; the next one starts a new thread', async () => {
  const lp = new LowPriorityScrypt();
  const salt = randomBytes(16);
  const pending = lp.derive('secret', salt, 32, { ...params, N: 16384 });
  await lp.close();
  assert.deepEqual(await pending, await pool('secret', salt, 32, { ...params, N: 16384 }));
  assert.equal(lp.counts.fallbacks, 1);
  assert.deepEqual(await lp.derive('x', salt, 16, params), await pool('x', salt, 16, params));
  assert.equal(lp.counts.derived, 1);
  await lp.close();
});

test('an idle thread ends by itself', async () => {
  const lp = new LowPriorityScrypt({ idleMs: 1 });
  await lp.derive('x', randomBytes(16), 16, params);
  await until(() => !lp.running, 'the idle thread ended');
  await lp.derive('y', randomBytes(16), 16, params);
  assert.equal(lp.counts.derived, 2, 'a new thread for the next check');
  await until(() => !lp.running, 'the idle thread ended');
});

/** Field 19 (niceness) of /proc/self/task/<tid>/stat, as the kernel sees the thread from outside. */
function niceOf(tid: number): number {
  const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

test('the thread is at nice 19 from its start, before its own code runs (its bootstrap does not compete at normal priority)', { skip: process.platform === 'linux' ? false : 'threads are reniced from outside on Linux only' }, async () => {
  const lp = new LowPriorityScrypt();
  try {
    assert.equal(lp.start(), true);
    // Synchronously after the start: the thread's own bootstrap (tens of ms) cannot have reached
    // its own setPriority yet, so a 19 here is the main thread's doing.
    assert.equal(lp.tids.length, 1, `one new thread: ${lp.tids.join(', ')}`);
    const [tid] = lp.tids as [number];
    assert.equal(niceOf(tid), 19);
    assert.equal(lp.niceness, 19);
    assert.equal(niceOf(process.pid), getPriority(), 'the main thread kept its niceness');
    await lp.derive('x', randomBytes(16), 16, params);
    assert.equal(niceOf(tid), 19);
  } finally {
    await lp.close();
  }
  assert.deepEqual(lp.tids, []);
});
