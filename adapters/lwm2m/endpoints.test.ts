// Config-mapped credentials (adapters.lwm2m.endpoints) over real UDP: standard LwM2M clients that
// cannot send imei/password are named by their endpoint (exact or `*` pattern) as a user of
// auth.users, or admitted from configured source addresses; everything else is refused.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../gateway/auth/password.ts';
import { buildSchema } from '../../gateway/app/config.ts';
import { ConfigError, validateConfig } from '../../gateway/config/load.ts';
import { until } from '../../gateway/test/helpers.ts';
import { lwm2mAdapter } from './index.ts';
import { startLwm2m, type Lwm2mGateway } from './test-support.ts';

describe('LwM2M config-mapped credentials', () => {
  let g: Lwm2mGateway;
  before(async () => {
    const hash = await hashPassword('unused-by-mapped-devices');
    const endpoints = [
      { match: 'urn:imei:35*', username: 'meters' },
      { match: 'lab-*', sources: ['127.0.0.2', 'fd00::/8'] },
      { match: 'pinned-*', username: 'meters', sources: ['127.0.0.3/32'] },
      { match: 'ghost', username: 'nobody' },
    ];
    // Anonymous devices are refused even from loopback: only the map (or imei/password) lets one in.
    const auth = { allow_anonymous: 'never', users: [{ username: 'meters', password_hash: hash }], acl: [{ permission: 'deny', action: 'publish', user: 'meters', topics: ['lwm2m/+/up/update'] }] };
    g = await startLwm2m({ endpoints }, { auth });
  });
  after(async () => {
    await g.stop();
  });

  const code = async (ep: string, localAddress = '127.0.0.1') => {
    const d = await g.device({ ep, localAddress });
    return (await d.request('POST', ['rd'], [`ep=${ep}`, 'lt=60', 'b=U'], Buffer.from('</3/0>'))).code;
  };

  test('a pattern maps endpoints to a user: registered under that username, its ACL rules apply', async () => {
    const d = await g.device({ ep: 'urn:imei:351234567890123' });
    assert.equal(await d.register(), '2.01');
    assert.equal(g.gw.registry.get('lwm2m', 'urn:imei:351234567890123')?.username, 'meters');
    // The ACL denies user "meters" the update topic: the Update is answered, its event refused by username.
    const denied = g.gw.metrics.snapshot()['messages/dropped/not_authorized'] ?? 0;
    assert.equal(await d.update(), '2.04');
    await until(() => (g.gw.metrics.snapshot()['messages/dropped/not_authorized'] ?? 0) === denied + 1, 'the update event refused by the ACL for "meters"');
    assert.equal(await code('urn:imei:36000'), '4.01', 'outside the pattern: anonymous, refused');
  });

  test('sources: only from the configured addresses; username + sources needs both', async () => {
    assert.equal(await code('lab-1', '127.0.0.2'), '2.01');
    assert.equal(g.gw.registry.get('lwm2m', 'lab-1')?.username, undefined);
    assert.equal(await code('lab-2', '127.0.0.1'), '4.01');
    assert.equal(await code('pinned-1', '127.0.0.3'), '2.01');
    assert.equal(g.gw.registry.get('lwm2m', 'pinned-1')?.username, 'meters');
    assert.equal(await code('pinned-2', '127.0.0.2'), '4.01');
    assert.ok(g.metric('registrations_unauthorized') >= 2);
  });

  test('a mapped user missing from auth.users is refused at registration (users change on SIGHUP)', async () => {
    assert.equal(await code('ghost'), '4.01');
    assert.equal(g.metric('devices'), 3);
  });
});

test('the config schema rejects bad entries with clear errors', () => {
  const schema = buildSchema([lwm2mAdapter]);
  const check = (entry: unknown) => {
    try {
      validateConfig(schema, { adapters: { lwm2m: { endpoints: [entry] } } }, 'test.yaml');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.message;
    }
    return 'accepted';
  };
  assert.match(check({ match: 'x-*', sources: ['10.0.0.0/33'] }), /adapters\.lwm2m\.endpoints\[0\]\.sources\[0\].*"10\.0\.0\.0\/33" is not an address or CIDR block/);
  assert.match(check({ match: 'x-*', sources: ['meters.example.com'] }), /is not an address or CIDR block/);
  assert.match(check({ match: 'x-*' }), /adapters\.lwm2m\.endpoints\[0\].*needs username, sources, or both/);
  assert.match(check({ match: '', username: 'u' }), /adapters\.lwm2m\.endpoints\[0\]\.match/);
  assert.match(check({ match: 'x', username: 'u', password: 'p' }), /password/);
  assert.equal(check({ match: 'urn:imei:35*', username: 'meters', sources: ['10.0.0.0/8', 'fd00::/8', '192.0.2.7'] }), 'accepted');
});
