import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import type { AuthConfig } from '../config/schema.ts';
import { LOGIN_DEFAULTS } from './login-guard.ts';
import { hashPassword } from './password.ts';
import { AuthService } from './service.ts';

// Issue 17 item 5: wrong passwords naming a user from one address must not lock that user out
// everywhere. The per-user backoff does not apply to an address that logged in as that user before
// (a known device); a never-seen address stays under it. Real scrypt, a fake clock for the backoff,
// the success cache off (so no login is let in by a remembered password).

let users: AuthConfig['users'];
before(async () => {
  users = [{ username: 'bob', password_hash: await hashPassword('right-b') }];
});

function service() {
  const clock = { t: 1_000_000 };
  const auth = new AuthService({ allow_anonymous: 'never', users, acl: [], acl_nomatch: 'deny', login: { ...LOGIN_DEFAULTS, cache_ttl: 0 } }, { now: () => clock.t });
  return { auth, clock };
}

let n = 0;
const bob = (ipaddress: string) => ({ clientid: `bob-${ipaddress}-${n++}`, username: 'bob', ipaddress, protocol: 'mqtt' });
const ATTACKER = '198.51.100.7';

/** LOGIN_DEFAULTS.max_failures wrong passwords for bob from the attacker: bob's user backoff opens. */
async function flood(auth: AuthService): Promise<void> {
  for (let i = 0; i < LOGIN_DEFAULTS.max_failures; i++) assert.equal((await auth.authenticate(bob(ATTACKER), `guess-${i}`)).ok, false);
}

test('a flood naming bob from one address: bob from a known-good address still logs in, from a never-seen one it is in backoff', async () => {
  const { auth, clock } = service();
  assert.deepEqual(await auth.authenticate(bob('10.0.0.2'), 'right-b'), { ok: true });
  for (let round = 0; round < 6; round++) {
    await flood(auth);
    assert.deepEqual(await auth.authenticate(bob('10.0.0.2'), 'right-b'), { ok: true }, `round ${round}: the known device was refused`);
    const fresh = await auth.authenticate(bob(`10.0.1.${round}`), 'right-b');
    assert.equal(fresh.ok, false, `round ${round}: a never-seen address was not in bob's backoff`);
    assert.match(fresh.ok ? '' : fresh.detail, /too many failed logins for user "bob"/);
    // The known device's success did not reset bob's backoff for the attacker's next address.
    assert.equal((await auth.authenticate(bob('203.0.113.9'), 'guess')).ok, false);
    clock.t += LOGIN_DEFAULTS.backoff_max + 1000; // the attacker returns after the longest window
  }
});

test('the known addresses of a user are bounded: the least recently used one is forgotten', async () => {
  const { auth } = service();
  assert.deepEqual(await auth.authenticate(bob('10.0.0.2'), 'right-b'), { ok: true });
  // Eight more devices log in as bob: 10.0.0.2 is the least recently used, and drops out.
  for (let i = 0; i < 8; i++) assert.deepEqual(await auth.authenticate(bob(`10.0.2.${i}`), 'right-b'), { ok: true });
  await flood(auth);
  assert.equal((await auth.authenticate(bob('10.0.0.2'), 'right-b')).ok, false, 'the forgotten address is under the user backoff');
  assert.deepEqual(await auth.authenticate(bob('10.0.2.7'), 'right-b'), { ok: true });
});
