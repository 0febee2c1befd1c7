import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rng } from '../test/random.ts';
import { backoffDelay } from './backoff.ts';

const opts = { initial: 500, max: 60_000, jitter: 0.5 };

describe('backoffDelay', () => {
  it('doubles per attempt from initial, capped at max (no jitter)', () => {
    const o = { ...opts, jitter: 0 };
    assert.deepEqual(
      [0, 1, 2, 3, 6, 7, 8, 20].map((a) => backoffDelay(a, o)),
      [500, 1000, 2000, 4000, 32_000, 60_000, 60_000, 60_000],
    );
  });

  it('below: the wait lies in [base*(1-jitter), base], the ends reached by random 0 and ~1', () => {
    assert.equal(backoffDelay(2, opts, () => 0), 2000);
    assert.equal(backoffDelay(2, opts, () => 0.999999), 1000);
    assert.equal(backoffDelay(2, opts, () => 0.5), 1500);
  });

  it('around: the wait lies in [base*(1-jitter), base*(1+jitter)], centred on base', () => {
    const o = { initial: 1000, max: 30_000, jitter: 0.25, spread: 'around' as const };
    assert.equal(backoffDelay(0, o, () => 0), 750);
    assert.equal(backoffDelay(0, o, () => 0.5), 1000);
    assert.equal(backoffDelay(0, o, () => 0.999999), 1250);
    assert.equal(backoffDelay(10, o, () => 0.999999), 37_500);
  });

  it('stays finite and within bounds for huge, negative and fractional attempts, and out-of-range jitter', () => {
    const random = rng(7);
    for (let i = 0; i < 2000; i++) {
      const attempt = [-5, 0, 1.7, 31, 1e6, Number.MAX_SAFE_INTEGER][i % 6]!;
      const d = backoffDelay(attempt, opts, random);
      assert.ok(Number.isFinite(d) && d >= 0 && d <= opts.max, `attempt ${attempt}: ${d}`);
    }
    assert.equal(backoffDelay(-3, { ...opts, jitter: 0 }), 500);
    assert.equal(backoffDelay(1.9, { ...opts, jitter: 0 }), 1000);
    assert.equal(backoffDelay(0, { ...opts, jitter: 5 }, () => 0.999999), 0);
    assert.equal(backoffDelay(0, { ...opts, jitter: -1 }, () => 0.999999), 500);
  });

  it('spreads waits: two draws of a fleet are not all equal', () => {
    const random = rng(1);
    const waits = new Set(Array.from({ length: 50 }, () => backoffDelay(5, opts, random)));
    assert.ok(waits.size > 40, `only ${waits.size} distinct waits out of 50`);
  });
});
