import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startGateway, type TestGateway } from '../test/helpers.ts';
import { RawClient } from '../test/raw-mqtt.ts';
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

async function attempt(from: string, username: string, password: string): Promise<number> {
  const { client, code } = await RawClient.connect(g.port, { clientId: `${username}-${Math.random()}`, username, password }, from);
  client.destroy();
  return code;
}

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
  while (logins.refused.throttled === 0) await new Promise((r) => setTimeout(r, 5));
  // bob, from another address, logs in while alice's guesser is being refused...
  assert.equal(await attempt('127.0.0.2', 'bob', 'right-b'), 0);
  // ...and alice herself, from her usual address, is served from the cache despite the attack on her name.
  assert.equal(await attempt('127.0.0.3', 'alice', 'right-a'), 0);
  stop = true;
  await flood;

  const checks = logins.verifications - checksBefore;
  assert.ok(attempts >= 100);
  assert.ok(checks <= 12, `${checks} scrypt checks for ${attempts} wrong passwords: the flood was not throttled`);
  assert.ok(logins.refused.throttled >= attempts - checks - logins.refused.busy);
  assert.ok(logins.cacheHits >= 1);
  // The flood got answers all along: CONNACK 4 while checked, 3 (server unavailable) while throttled.
  assert.ok((codes.get(3) ?? 0) > 0 && (codes.get(4) ?? 0) > 0, JSON.stringify([...codes]));
});
