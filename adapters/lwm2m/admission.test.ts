// Who gets in: authentication (imei/password query parameters), max_devices, the per-address
// registration rate, and auto_observe on registration. Real UDP on 127.0.0.1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword } from '../../gateway/auth/password.ts';
import { until } from '../../gateway/test/helpers.ts';
import { startLwm2m, type Lwm2mGateway, type Watcher } from './test-support.ts';

describe('LwM2M admission', () => {
  let g: Lwm2mGateway;
  let w: Watcher;
  before(async () => {
    const [hash, app] = await Promise.all([hashPassword('meter-pw'), hashPassword('app-pw')]);
    g = await startLwm2m({ max_devices: 2, register_rate: 0.01, register_burst: 5, auto_observe: ['/3303/0/5700', '/9/0'] }, { auth: { allow_anonymous: 'never', users: [{ username: '860000000000001', password_hash: hash }, { username: 'app', password_hash: app }] } });
    w = await g.watch('lwm2m/#', { username: 'app', password: 'app-pw' });
  });
  after(async () => {
    await g.stop();
  });

  test('credentials: none -> 4.01, wrong password -> 4.01, imei + password -> 2.01 with the imei as username, secrets never published', async () => {
    const d = await g.device({ ep: 'meter-1' });
    const code = async (q: string[]) => (await d.request('POST', ['rd'], ['ep=meter-1', 'lt=60', ...q], Buffer.from('</3/0>,</3303/0>'))).code;
    assert.equal(await code([]), '4.01');
    assert.equal(await code(['imei=860000000000001', 'password=wrong']), '4.01');
    d.opts.query = { imei: '860000000000001', password: 'meter-pw' };
    assert.equal(await d.register(), '2.01');
    const reg = await w.next('lwm2m/meter-1/up/resp', (j) => j.msgType === 'register');
    assert.equal((reg.data as Record<string, unknown>).imei, '860000000000001');
    assert.equal('password' in (reg.data as Record<string, unknown>), false);
    assert.equal(g.gw.registry.get('lwm2m', 'meter-1')?.username, '860000000000001');
    // auto_observe: /3303/0/5700 is registered and defined; /9/0 is not registered.
    await until(() => d.observerCount === 1, 'auto-observed');
    assert.deepEqual(d.received.filter((r) => r.observe === 0).map((r) => r.path), ['/3303/0/5700']);
    d.set('/3303/0/5700', 19);
    const n = await w.next('lwm2m/meter-1/up/notify');
    assert.deepEqual(n, { msgType: 'notify', seqNum: 2, data: { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 19 }] } });
  });

  test('max_devices: a new endpoint over the limit gets 5.03; registrations from one address are rate-limited (4.29)', async () => {
    const creds = { imei: '860000000000001', password: 'meter-pw' };
    const d2 = await g.device({ ep: 'meter-2', query: creds });
    assert.equal(await d2.register(), '2.01');
    const d3 = await g.device({ ep: 'meter-3', query: creds });
    await assert.rejects(d3.register(), /register answered 5.03/);
    assert.ok(g.metric('registrations_refused_full') >= 1);
    // The burst of 5 is spent (3 in the first test, 2 here); the next one is limited.
    const limited = await d3.request('POST', ['rd'], ['ep=meter-3', 'lt=60'], Buffer.alloc(0));
    assert.equal(limited.code, '4.29');
    assert.ok(limited.options.some((o) => o.name === 'Max-Age'));
    assert.equal(g.metric('devices'), 2);
  });
});
