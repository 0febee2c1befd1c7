import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionTable } from './sessions.ts';

// The session-expiry sweep (broker.ts sweep) takes what takeExpired returns. aedes makes a
// reconnecting client ready (SessionTable.online) only after it has written the session's whole
// queue: a session expiring in between would hand its shared messages on (and drop its
// subscriptions) while its new connection is being sent them.

test('a persistent session whose client is connecting (registered by aedes, not yet ready) does not expire; it does once that connection ends before ready', () => {
  let now = 0;
  const t = new SessionTable(10, 1000, () => now);
  t.online('a');
  t.online('b');
  t.offline('a');
  t.offline('b');
  const conn = { closed: false };
  t.connectStarted('a', conn); // its queue being sent
  now = 5000;
  assert.deepEqual(t.takeExpired(), ['b']);
  assert.equal(t.has('a'), true);
  t.connectEnded('a', { closed: true }); // another connection's end: this one still connecting
  assert.deepEqual(t.takeExpired(), []);
  conn.closed = true; // died before ready (aedes emits clientDisconnect, connectEnded, after)
  assert.deepEqual(t.takeExpired(), ['a']);
});

test('a connect that ends before ready leaves the session offline since its last disconnect; one that gets ready makes it online', () => {
  let now = 0;
  const t = new SessionTable(10, 1000, () => now);
  t.online('a');
  t.offline('a');
  const c1 = { closed: false };
  t.connectStarted('a', c1);
  t.connectEnded('a', c1);
  now = 1000;
  assert.deepEqual(t.takeExpired(), ['a']);
  t.online('b');
  t.offline('b');
  t.connectStarted('b', { closed: false });
  t.online('b'); // ready
  now = 10_000;
  assert.deepEqual(t.takeExpired(), []);
  assert.equal(t.isConnecting('b'), false);
});
