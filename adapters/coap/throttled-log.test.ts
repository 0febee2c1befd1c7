import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThrottledLog } from './throttled-log.ts';

test('rate-limited log: the first event at once, then one summary per interval with the count and addresses', () => {
  let now = 0;
  const lines: [number, string[]][] = [];
  const log = new ThrottledLog(60_000, (n, a) => lines.push([n, a]), () => now);
  log.hit('10.0.0.1');
  assert.deepEqual(lines, [[1, ['10.0.0.1']]]);
  for (let i = 0; i < 500; i++) log.hit(`10.0.0.${i % 3}`);
  now = 59_999;
  log.flush();
  assert.equal(lines.length, 1, 'nothing more within the interval');
  now = 60_000;
  log.flush();
  assert.deepEqual(lines[1], [500, ['10.0.0.0', '10.0.0.1', '10.0.0.2']]);
  now = 200_000;
  log.flush();
  assert.equal(lines.length, 2, 'quiet: no line');
  for (let i = 0; i < 20; i++) log.hit(`10.1.0.${i}`);
  assert.equal(lines[2]![0], 1);
  log.flush(true);
  assert.equal(lines[3]![0], 19);
  assert.equal(lines[3]![1].length, 10, 'at most 10 addresses named');
});
