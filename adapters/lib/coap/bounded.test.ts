import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RateLimiter } from './bounded.ts';

test('rate limiter: a new key gets a full bucket while there is room; with the table full, churning keys share one overflow bucket', () => {
  let t = 0;
  const rl = new RateLimiter(1, 5, 3, () => t);
  const admitted = (key: string, n: number) => Array.from({ length: n }, () => rl.take(key)).filter(Boolean).length;
  assert.equal(admitted('a', 10), 5, 'burst');
  assert.equal(admitted('b', 1) + admitted('c', 1), 2, 'room for two more keys');
  assert.equal(rl.tracked, 3);
  // Table full: 100 new keys (a flooder rotating addresses) get one burst between them, not one each.
  let fresh = 0;
  for (let i = 0; i < 100; i++) fresh += admitted(`k${i}`, 3);
  assert.equal(fresh, 5, 'one shared burst');
  assert.equal(rl.tracked, 3, 'still bounded');
  // A tracked key's bucket refills at the rate.
  t += 1000;
  assert.equal(admitted('k99', 3), 1);
});
