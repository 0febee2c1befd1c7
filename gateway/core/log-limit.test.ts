import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../test/helpers.ts';
import { RateLimitedLog, moreLine, moreSuffix } from './log-limit.ts';
import { PeerLog } from './peer-log.ts';

// One wording for what a rate-limited log held back, "(and N more in the last 60 s)" and
// "... and N more <what> in the last 60 s", from the one helper, for PeerLog and the limiters that
// write out what they held back (flush, or tail: the last held-back line with the others' count).

test('the wording: moreSuffix with the interval (and a peer), moreLine', () => {
  assert.equal(moreSuffix(0, 60_000), '');
  assert.equal(moreSuffix(12, 60_000), ' (and 12 more in the last 60 s)');
  assert.equal(moreSuffix(12, 60_000, '10.0.0.7'), ' (and 12 more from 10.0.0.7 in the last 60 s)');
  assert.equal(moreLine(12, 'CoAP logins refused from 10.0.0.7 (not_authorized)', 60_000), '... and 12 more CoAP logins refused from 10.0.0.7 (not_authorized) in the last 60 s');
});

test('PeerLog speaks the same wording', () => {
  const lines: string[] = [];
  const log = { warn: (_f: unknown, m: string) => lines.push(m), info: () => {} } as never;
  const p = new PeerLog(log);
  for (let i = 0; i < 4; i++) p.event('not_authorized', '10.0.0.7', {}, 'publish denied');
  p.flush();
  assert.deepEqual(lines, ['publish denied', `... and 3 more "not_authorized" from 10.0.0.7 in the last 60 s`]);
});

test('tail: what was held back is written out as the last held-back line with the count of the others, at the end of the interval or on flushAll', async () => {
  const lines: { f: Record<string, unknown>; m: string }[] = [];
  const write = (f: Record<string, unknown>, m: string) => lines.push({ f, m });
  const line = (i: number) => (more: number) => ({ fields: { i }, msg: `event ${i}${moreSuffix(more, 20)}` });
  const timed = new RateLimitedLog({ intervalMs: 20, write, tail: true });
  for (let i = 1; i <= 5; i++) timed.event('k', line(i));
  assert.deepEqual(lines.map((l) => l.m), ['event 1']);
  await until(() => lines.length === 2, 'the tail at the end of the interval');
  assert.deepEqual(lines[1], { f: { i: 5 }, m: 'event 5 (and 3 more in the last 0.02 s)' });

  lines.length = 0;
  const stopped = new RateLimitedLog({ intervalMs: 60_000, write, tail: true });
  stopped.event('k', line(1));
  stopped.event('k', line(2));
  stopped.flushAll();
  stopped.flushAll(); // written once
  assert.deepEqual(lines.map((l) => l.m), ['event 1', 'event 2']);

  lines.length = 0;
  const plain = new RateLimitedLog({ intervalMs: 60_000, write });
  plain.event('k', line(1));
  plain.event('k', line(2));
  plain.flushAll(); // neither flush nor tail: nothing written out
  assert.deepEqual(lines.map((l) => l.m), ['event 1']);
});
