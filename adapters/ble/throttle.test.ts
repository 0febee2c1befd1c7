import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { Freshness } from './freshness.ts';
import { Presence } from '../lib/presence.ts';
import { Throttle } from './throttle.ts';

// The per-device policies with a hand-driven clock: what is sent, deferred or dropped.

test('min_interval: a second reading inside the interval waits, and a newer one replaces it', async () => {
  let now = 1000;
  const sent: number[] = [];
  const t = new Throttle({ changeOnly: true, minInterval: 60_000, heartbeat: 0, now: () => now });
  assert.equal(t.offer('a', { tempc: 1 }, () => sent.push(1)), 'sent');
  now += 10;
  assert.equal(t.offer('a', { tempc: 2 }, () => sent.push(2)), 'deferred');
  assert.equal(t.offer('a', { tempc: 3 }, () => sent.push(3)), 'deferred');
  assert.deepEqual(sent, [1]);
  // Back to the published value before the interval ends: nothing is left to send.
  assert.equal(t.offer('a', { tempc: 1 }, () => sent.push(4)), 'unchanged');
  now += 60_000;
  assert.equal(t.offer('a', { tempc: 5 }, () => sent.push(5)), 'sent');
  assert.deepEqual(sent, [1, 5]);
  t.close();
});

test('a deferred reading is sent when the interval ends', async () => {
  const sent: number[] = [];
  const t = new Throttle({ changeOnly: true, minInterval: 30, heartbeat: 0 });
  t.offer('a', { v: 1 }, () => sent.push(1));
  assert.equal(t.offer('a', { v: 2 }, () => sent.push(2)), 'deferred');
  await until(() => sent.length === 2, 'the deferred reading');
  assert.deepEqual(sent, [1, 2]);
  t.close();
});

test('heartbeat republishes an unchanged reading; change_only off publishes repeats', () => {
  let now = 0;
  const sent: string[] = [];
  const t = new Throttle({ changeOnly: true, minInterval: 0, heartbeat: 1000, now: () => now });
  t.offer('a', { v: 1 }, () => sent.push('first'));
  now = 500;
  assert.equal(t.offer('a', { v: 1 }, () => sent.push('early')), 'unchanged');
  now = 1000;
  assert.equal(t.offer('a', { v: 1 }, () => sent.push('heartbeat')), 'sent');
  const all = new Throttle({ changeOnly: false, minInterval: 0, heartbeat: 0, now: () => now });
  all.offer('a', { v: 1 }, () => sent.push('x'));
  all.offer('a', { v: 1 }, () => sent.push('y'));
  assert.deepEqual(sent, ['first', 'heartbeat', 'x', 'y']);
});

test('presence: online once, offline after the timeout, trigger-based devices never time out', () => {
  let now = 0;
  const events: string[] = [];
  const p = new Presence(100, (id) => events.push(`on ${id}`), (id) => events.push(`off ${id}`), () => now);
  p.seen('a');
  p.seen('a');
  p.seen('btn', true);
  now = 99;
  p.sweep();
  now = 100;
  p.sweep();
  now = 10_000;
  p.sweep();
  assert.deepEqual(events, ['on a', 'on btn', 'off a']);
});

test('freshness: repeats, replays (counter < 100 is a restart), downgrades', () => {
  const f = new Freshness();
  const enc = (counter: number, packetId?: number) => ({ ok: true as const, format: 'bthome', values: {}, meta: { encrypted: true, counter, packetId } });
  assert.equal(f.check('d', enc(500), true), 'fresh');
  assert.equal(f.check('d', enc(500), true), 'replay');
  assert.equal(f.check('d', enc(499), true), 'replay');
  assert.equal(f.check('d', enc(3), true), 'fresh');
  assert.equal(f.check('d', { ok: true, format: 'bthome', values: {}, meta: { encrypted: false } }, true), 'downgrade');
  assert.equal(f.check('e', { ok: true, format: 'ruuvi5', values: {}, meta: { packetId: 7 } }, false), 'fresh');
  assert.equal(f.check('e', { ok: true, format: 'ruuvi5', values: {}, meta: { packetId: 7 } }, false), 'repeat');
  assert.equal(f.check('e', { ok: true, format: 'ruuvi5', values: {}, meta: { packetId: 8 } }, false), 'fresh');
});
