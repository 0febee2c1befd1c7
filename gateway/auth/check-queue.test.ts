import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CheckQueue, type Admission, type Refusal } from './check-queue.ts';

// Issue 17 item 5, the scheduler in front of scrypt on its own: the "verifier" is the test, which
// holds each granted slot until it calls release (a check as slow as the test wants), and which
// addresses are suspect is a set the test changes. What is asserted is the order checks start in
// and who is refused, never how long anything takes.

const suspects = new Set<string>();
function queue(opts: Partial<ConstructorParameters<typeof CheckQueue>[0]> = {}): CheckQueue {
  suspects.clear();
  return new CheckQueue({ concurrent: 2, suspectConcurrent: 1, waiting: 32, perAddress: 2, ...opts }, (a) => suspects.has(a));
}

const noRecheck = (): Refusal | undefined => undefined;

/** A slot granted now (not queued). */
function now(a: Admission | Promise<Admission>): Extract<Admission, { ok: true }> {
  assert.ok(!(a instanceof Promise), 'queued, not started at once');
  assert.ok(a.ok, `refused: ${a.ok ? '' : a.detail}`);
  return a;
}

/** Settles to the admission, or 'waiting' while it is still queued. */
async function state(a: Admission | Promise<Admission>): Promise<Admission | 'waiting'> {
  return Promise.race([Promise.resolve(a), new Promise<'waiting'>((r) => setImmediate(() => r('waiting')))]);
}

test('a clean check is never queued behind a suspect one, even with a single slot', async () => {
  const q = queue({ concurrent: 1 });
  suspects.add('10.0.0.1');
  const flood = now(q.request('10.0.0.1', noRecheck));
  assert.equal(flood.lowPriority, true, "a suspect's check is marked for low priority");
  const valid = now(q.request('10.0.0.2', noRecheck));
  assert.equal(valid.lowPriority, false);
  valid.release();
  flood.release();
});

test('suspects never take a clean slot: one suspect check at a time, every clean slot stays free', async () => {
  const q = queue({ concurrent: 2 });
  for (const a of ['10.0.0.1', '10.0.0.3', '10.0.0.5']) suspects.add(a);
  const first = now(q.request('10.0.0.1', noRecheck));
  const others = [q.request('10.0.0.3', noRecheck), q.request('10.0.0.5', noRecheck)];
  for (const o of others) assert.equal(await state(o), 'waiting', 'a second suspect check started at once');
  // Both clean slots are free for clean addresses, the last one included.
  const a = now(q.request('10.0.0.2', noRecheck));
  const b = now(q.request('10.0.0.4', noRecheck));
  assert.equal(q.stats.clean.checks, 2);
  // Releasing a clean slot does not hand it to a waiting suspect...
  a.release();
  for (const o of others) assert.equal(await state(o), 'waiting');
  // ...the end of the suspect check does, to the next suspect in turn.
  first.release();
  const next = await state(others[0]!);
  assert.ok(next !== 'waiting' && next.ok && next.lowPriority);
  assert.equal(await state(others[1]!), 'waiting');
  next.release();
  const last = await state(others[1]!);
  assert.ok(last !== 'waiting' && last.ok);
  last.release();
  b.release();
  assert.equal(q.stats.suspect.checks, 3);
});

test('suspects cannot fill the waiting places: a clean check that must wait takes the newest suspect waiter\'s place', async () => {
  const q = queue({ concurrent: 1, waiting: 3, perAddress: 2 });
  for (const a of ['10.0.0.1', '10.0.0.3']) suspects.add(a);
  const valid = now(q.request('10.0.0.2', noRecheck)); // the one clean slot, taken
  const s1 = now(q.request('10.0.0.1', noRecheck)); // the suspect slot, taken
  // Three suspect attempts fill the waiting places; a fourth is refused.
  const waiting = [q.request('10.0.0.1', noRecheck), q.request('10.0.0.3', noRecheck), q.request('10.0.0.3', noRecheck)];
  // A clean address must wait for the clean slot: it is queued, not refused.
  const clean = q.request('10.0.0.5', noRecheck);
  assert.equal(await state(clean), 'waiting', 'the clean login was refused: suspects filled the waiting places');
  const evicted = await state(waiting[2]!);
  assert.ok(evicted !== 'waiting' && !evicted.ok && evicted.reason === 'busy', 'the newest suspect waiter made room');
  suspects.add('10.0.0.7');
  const more = await state(q.request('10.0.0.7', noRecheck));
  assert.ok(more !== 'waiting' && !more.ok && more.reason === 'busy', 'a suspect is refused when the waiting places are full');
  // The clean waiter starts as soon as the clean slot is free, ahead of every suspect.
  valid.release();
  const started = await state(clean);
  assert.ok(started !== 'waiting' && started.ok && !started.lowPriority);
  started.release();
  s1.release();
  for (const w of waiting.slice(0, 2)) {
    const got = await state(w);
    if (got !== 'waiting' && got.ok) got.release();
  }
});

test('a waiting suspect refused by its recheck (a backoff opened meanwhile) costs no check', async () => {
  const q = queue();
  suspects.add('10.0.0.1');
  const running = now(q.request('10.0.0.1', noRecheck));
  const waiter = q.request('10.0.0.1', () => ({ ok: false, reason: 'throttled', detail: 'in backoff' }));
  running.release();
  const got = await state(waiter);
  assert.ok(got !== 'waiting' && !got.ok && got.reason === 'throttled');
  assert.equal(q.started, 1);
});

test('an untrusted address is checked in the suspect slot while a trusted check runs or waits, or while alerted; clean otherwise', async () => {
  let alert = false;
  suspects.clear();
  const q = new CheckQueue({ concurrent: 1, suspectConcurrent: 1, waiting: 32, perAddress: 2 }, (a) => suspects.has(a), () => alert);
  const first = now(q.request('10.0.0.1', noRecheck, false));
  assert.equal(first.lowPriority, false, 'a new address on a quiet gateway runs clean');
  first.release();
  const valid = now(q.request('10.0.0.2', noRecheck, true));
  assert.equal(valid.lowPriority, false);
  const flood = now(q.request('10.0.0.1', noRecheck, false));
  assert.equal(flood.lowPriority, true, 'beside a running trusted check');
  // A trusted check waiting (the clean slot is taken) also keeps an untrusted one out of it.
  const waiting = q.request('10.0.0.3', noRecheck, true);
  valid.release();
  const w = await waiting;
  assert.ok(w.ok && !w.lowPriority);
  flood.release();
  w.release();
  alert = true;
  const alerted = now(q.request('10.0.0.4', noRecheck, false));
  assert.equal(alerted.lowPriority, true, 'after a recent failure');
  alerted.release();
  assert.equal(now(q.request('10.0.0.5', noRecheck, true)).lowPriority, false, 'a trusted address stays clean when alerted');
});
