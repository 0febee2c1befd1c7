import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, until, type TestGateway } from '../test/helpers.ts';
import { CONNACK, RawClient, connectPacket } from '../test/raw-mqtt.ts';
import { hashPassword } from './password.ts';

// Issue 17 item 5: wrong passwords from one address must not be able to pin the cores. The test
// asserts the mechanism (speed belongs in `npm run bench -- login-flood`): the flood is throttled
// (far fewer scrypt checks than attempts) while a valid login from another address is served.

let g: TestGateway;
before(async () => {
  g = await startGateway({
    auth: { allow_anonymous: 'never', users: [{ username: 'alice', password_hash: await hashPassword('right-a') }, { username: 'bob', password_hash: await hashPassword('right-b') }] },
  });
});
after(() => g.stop());

/** The CONNACK code, or -1 when the gateway closed the connection without one (refused at accept). */
async function attempt(from: string, username: string, password: string, port = g.port): Promise<number> {
  const client = await RawClient.open(port, '127.0.0.1', from);
  try {
    client.send(connectPacket({ clientId: `${username}-${Math.random()}`, username, password }));
    return (await client.next(CONNACK)).body[1]!;
  } catch (err) {
    if (client.closed && client.packets.length === 0) return -1;
    throw err;
  } finally {
    client.destroy();
  }
}

const refusedAtAccept = (gw: TestGateway) => gw.gw.metrics.snapshot()['connections/refused_at_accept'] ?? 0;

test('a wrong-password flood from one address is throttled while valid logins from elsewhere are served', async () => {
  const logins = g.gw.auth.logins;
  // alice connected before the attack: her credentials are remembered.
  assert.equal(await attempt('127.0.0.3', 'alice', 'right-a'), 0);
  const checksBefore = logins.verifications;

  let attempts = 0;
  let stop = false;
  const codes = new Map<number, number>();
  const flood = (async () => {
    while (!stop || attempts < 100) {
      const wave = await Promise.all(Array.from({ length: 10 }, () => attempt('127.0.0.1', 'alice', `guess-${attempts}`)));
      attempts += wave.length;
      for (const c of wave) codes.set(c, (codes.get(c) ?? 0) + 1);
    }
  })();
  await until(() => refusedAtAccept(g) > 0, 'the flooding address refused at accept');
  // bob, from another address, logs in while alice's guesser is being refused...
  assert.equal(await attempt('127.0.0.2', 'bob', 'right-b'), 0);
  // ...and alice herself, from her usual address, is served from the cache despite the attack on her name.
  assert.equal(await attempt('127.0.0.3', 'alice', 'right-a'), 0);
  stop = true;
  await flood;

  const checks = logins.verifications - checksBefore;
  assert.ok(attempts >= 100);
  assert.ok(checks <= 12, `${checks} scrypt checks for ${attempts} wrong passwords: the flood was not throttled`);
  assert.ok(logins.refused.throttled + refusedAtAccept(g) >= attempts - checks - logins.refused.busy);
  assert.ok(logins.cacheHits >= 1);
  // CONNACK 4 while checked; once the address is in backoff, closed at accept without a CONNACK.
  assert.ok((codes.get(-1) ?? 0) > 0 && (codes.get(4) ?? 0) > 0, JSON.stringify([...codes]));
  assert.equal(codes.get(-1), refusedAtAccept(g), 'every connection closed without a CONNACK is counted');
});

test('an address in login backoff is closed at accept (no CONNACK, counted) until the backoff ends; other addresses connect', async () => {
  // A gateway of its own, on a clock the test moves (GatewayOptions.now): 3 failures open a 3 s backoff.
  const clock = { t: 1_000_000 };
  const b = await startGateway(
    { auth: { allow_anonymous: 'never', users: [{ username: 'carol', password_hash: await hashPassword('right-c') }], login: { max_failures: 3, backoff_initial: '3s', cache_ttl: '0ms' } } },
    [], undefined, undefined, undefined, () => clock.t,
  );
  try {
    // Three different user names, so only the address (not a user name) reaches max_failures.
    for (let i = 0; i < 3; i++) assert.equal(await attempt('127.0.0.5', `nobody-${i}`, 'guess', b.port), 4);
    assert.equal(b.gw.auth.logins.addressBackoff('127.0.0.5'), 3000);
    const checks = b.gw.auth.logins.verifications;
    // The right password does not help from that address: the connection never reaches the broker.
    assert.equal(await attempt('127.0.0.5', 'carol', 'right-c', b.port), -1);
    assert.equal(refusedAtAccept(b), 1);
    assert.equal(b.gw.auth.logins.verifications, checks, 'no password check for a connection closed at accept');
    assert.equal(b.gw.auth.logins.refused.throttled, 0, 'refused before CONNECT, not by the login guard');
    // Another address is served meanwhile.
    assert.equal(await attempt('127.0.0.6', 'carol', 'right-c', b.port), 0);
    // Still closed 1 ms before the window ends; served once it has.
    clock.t += 2999;
    assert.equal(await attempt('127.0.0.5', 'carol', 'right-c', b.port), -1);
    assert.equal(refusedAtAccept(b), 2);
    clock.t += 1;
    assert.equal(await attempt('127.0.0.5', 'carol', 'right-c', b.port), 0);
    assert.equal(b.gw.auth.logins.addressBackoff('127.0.0.5'), 0);
  } finally {
    await b.stop();
  }
});
