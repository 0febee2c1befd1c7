import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { AuthConfig } from '../config/schema.ts';
import { LOGIN_DEFAULTS } from './login-guard.ts';
import { hashPassword } from './password.ts';
import { AuthService } from './service.ts';

// Issue 17 item 5, the scheduler in front of scrypt (check-queue.ts), on the AuthService with real
// scrypt checks and a fake clock for the backoff (no waiting, no wall-clock thresholds): a valid
// login from a fresh address is checked with at most one flood check ahead of it, and an address
// in backoff, including its attempts already waiting, costs no further scrypt.

let users: AuthConfig['users'];
before(async () => {
  users = [
    { username: 'alice', password_hash: await hashPassword('right-a') },
    { username: 'bob', password_hash: await hashPassword('right-b') },
  ];
});

function service(login: Partial<AuthConfig['login']> = {}) {
  const clock = { t: 1_000_000 };
  const auth = new AuthService({ allow_anonymous: 'never', users, acl: [], acl_nomatch: 'deny', login: { ...LOGIN_DEFAULTS, cache_ttl: 0, ...login } }, { now: () => clock.t });
  return { auth, clock };
}

const from = (ipaddress: string, username: string) => ({ clientid: `${username}-${ipaddress}`, username, ipaddress, protocol: 'mqtt' });

test('a valid login from another address starts its check at once while a flood is being checked (one flood check at most ahead of it)', async () => {
  const { auth } = service();
  const logins = auth.logins;
  // Twenty wrong passwords from one address at once, as a flooder sends them.
  const flood = Array.from({ length: 20 }, (_, i) => auth.authenticate(from('10.0.0.1', 'alice'), `guess-${i}`));
  const floodRunning = logins.verifications;
  assert.equal(floodRunning, 1, 'one check at a time for one address');
  const floodDone = { n: 0 };
  for (const f of flood) void f.then(() => floodDone.n++);

  const started = logins.verifications;
  const bob = auth.authenticate(from('10.0.0.2', 'bob'), 'right-b');
  // The check of bob's password has started (a verification slot was free): it waits for no flood check.
  assert.equal(logins.verifications, started + 1, 'the valid login waited behind the flood for a verification slot');
  assert.equal(floodDone.n, 0);
  assert.deepEqual(await bob, { ok: true });

  const results = await Promise.all(flood);
  // One address: one check running, one waiting; the other 18 refused at once without a check.
  assert.equal(results.filter((r) => r.ok === false && r.reason === 'server_unavailable').length, 18);
  assert.ok(logins.verifications - started <= 3, `${logins.verifications - started} checks`);
});

test('addresses with a failure on record share one slot of their own, at low CPU priority: a clean address finds a slot free', async () => {
  const { auth } = service({ max_concurrent_checks: 1, per_address_checks: 4 });
  const logins = auth.logins;
  // bob's device logged in before (a known address): its checks keep the clean slot.
  assert.deepEqual(await auth.authenticate(from('10.0.0.2', 'bob'), 'right-b'), { ok: true });
  for (const ip of ['10.0.0.1', '10.0.0.3']) assert.equal((await auth.authenticate(from(ip, 'alice'), 'guess')).ok, false);
  // Two addresses with a failure on record flood together, four attempts each.
  const before = logins.verifications;
  const flood = ['10.0.0.1', '10.0.0.3'].flatMap((ip) => Array.from({ length: 4 }, (_, i) => auth.authenticate(from(ip, 'alice'), `g${i}`)));
  assert.equal(logins.verifications, before + 1, 'one slot for both of them');
  const bob = auth.authenticate(from('10.0.0.2', 'bob'), 'right-b');
  assert.equal(logins.verifications, before + 2, 'the valid login waited behind the flood for a verification slot');
  assert.deepEqual(await bob, { ok: true });
  await Promise.all(flood);
  // Every check of those two addresses ran in the low-priority thread, none of the clean ones did
  // (clean: bob twice and 10.0.0.1's first; 10.0.0.3's first came after a failure, so it was low).
  assert.equal(auth.lowPriority.counts.derived, logins.checks.stats.suspect.checks);
  assert.equal(logins.checks.stats.clean.checks, 3);
  assert.equal(auth.lowPriority.counts.fallbacks, 0);
  await auth.close();
});

test('an address in backoff costs no scrypt, also for its attempts already waiting; after the window it is checked again', async () => {
  const { auth, clock } = service({ max_failures: 1, backoff_initial: 5000 });
  const logins = auth.logins;
  // Two at once: the first is checked, the second waits; the first failure opens the backoff,
  // which refuses the waiting one before its check.
  const [a, b] = await Promise.all([auth.authenticate(from('10.0.0.1', 'alice'), 'g1'), auth.authenticate(from('10.0.0.1', 'carol'), 'g2')]);
  assert.equal(logins.verifications, 1, 'the attempt waiting behind the failure was checked anyway');
  assert.equal(a.ok === false && a.reason, 'bad_username_or_password');
  assert.equal(b.ok === false && b.reason, 'server_unavailable');
  assert.ok(logins.addressBackoff('10.0.0.1') > 0);
  // In the window: nothing is checked, whatever the user name or password.
  const during = await Promise.all(Array.from({ length: 50 }, (_, i) => auth.authenticate(from('10.0.0.1', `u${i}`), 'right-b')));
  assert.ok(during.every((r) => r.ok === false && r.reason === 'server_unavailable'));
  assert.equal(logins.verifications, 1);
  assert.equal(logins.refused.throttled, 51);
  // Not locked out: once the window has passed, the right password from that address is accepted.
  clock.t += 5001;
  assert.equal(logins.addressBackoff('10.0.0.1'), 0);
  assert.deepEqual(await auth.authenticate(from('10.0.0.1', 'bob'), 'right-b'), { ok: true });
  assert.equal(logins.verifications, 2);
});

test('at the end of a backoff window, the address is closed at accept while its next guess is checked', async () => {
  const { auth, clock } = service({ max_failures: 2, backoff_initial: 1000 });
  const logins = auth.logins;
  for (let i = 0; i < 2; i++) await auth.authenticate(from('10.0.0.1', 'alice'), `g${i}`);
  assert.ok(logins.addressBackoff('10.0.0.1') > 0 && Number.isFinite(logins.addressBackoff('10.0.0.1')));
  clock.t += 1001;
  assert.equal(logins.addressBackoff('10.0.0.1'), 0);
  const guesses = [auth.authenticate(from('10.0.0.1', 'alice'), 'g2'), auth.authenticate(from('10.0.0.1', 'alice'), 'g3')];
  // Its checks are full: a further connection could only be refused "busy" after its CONNECT.
  assert.equal(logins.addressBackoff('10.0.0.1'), Infinity);
  await Promise.all(guesses);
  assert.equal(logins.verifications, 3, 'one check per window end');
  assert.ok(Number.isFinite(logins.addressBackoff('10.0.0.1')) && logins.addressBackoff('10.0.0.1') > 1000, 'the next window, doubled');
  // A user who mistyped once is not held back: another address, one wrong then the right password.
  assert.equal((await auth.authenticate(from('10.0.0.9', 'bob'), 'typo')).ok, false);
  assert.deepEqual(await auth.authenticate(from('10.0.0.9', 'bob'), 'right-b'), { ok: true });
});

test("a flood's first check (no failure on record yet) runs at low priority while a known address's check runs; a new address is low only then or after a recent failure", async () => {
  const { auth, clock } = service();
  const logins = auth.logins;
  assert.deepEqual(await auth.authenticate(from('10.0.0.2', 'bob'), 'right-b'), { ok: true });
  assert.equal(logins.checks.stats.clean.checks, 1, 'a new address on a quiet gateway: clean');
  const bob = auth.authenticate(from('10.0.0.2', 'bob'), 'right-b'); // known: its check runs now
  const guess = auth.authenticate(from('10.0.0.1', 'bob'), 'guess');
  assert.equal(logins.checks.stats.suspect.checks, 1, "the flood's first check went to the low-priority slot");
  assert.equal(logins.addressBackoff('10.0.0.1'), 0, 'room for one more');
  const guess2 = auth.authenticate(from('10.0.0.1', 'bob'), 'guess2');
  // Its checks are full and run at low priority: its next connections are closed at accept,
  // before a failure is on record (not read and refused one by one by the main thread).
  assert.equal(logins.addressBackoff('10.0.0.1'), Infinity);
  assert.equal(logins.addressBackoff('10.0.0.2'), 0);
  assert.equal((await guess2).ok, false);
  assert.deepEqual(await bob, { ok: true });
  assert.equal((await guess).ok, false);
  assert.equal(auth.lowPriority.counts.derived, 2);
  // For a minute after that failure, a new address (alice's first login) is checked there too.
  assert.deepEqual(await auth.authenticate(from('10.0.0.3', 'alice'), 'right-a'), { ok: true });
  assert.equal(logins.checks.stats.suspect.checks, 3);
  clock.t += 60_001;
  assert.deepEqual(await auth.authenticate(from('10.0.0.4', 'alice'), 'right-a'), { ok: true });
  assert.equal(logins.checks.stats.suspect.checks, 3, 'a new address once failures stopped: clean');
  assert.equal(logins.checks.stats.clean.checks, 3);
  await auth.close();
});
