import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { collect, connect, endClient, until } from '../test/helpers.ts';
import { json, nonLoopbackAddress, startApiGateway, type ApiGateway } from './test/support.ts';

// The management API over real HTTP against a running gateway, with real MQTT clients.

const CLIENT_FIELDS = ['clientid', 'username', 'node', 'ip_address', 'port', 'listener', 'mountpoint', 'proto_name', 'proto_ver', 'clean_start', 'keepalive', 'expiry_interval', 'connected', 'connected_at', 'created_at', 'is_bridge', 'is_expired', 'durable', 'subscriptions_cnt', 'subscriptions_max', 'recv_msg', 'recv_cnt', 'recv_pkt', 'send_msg', 'mqueue_len', 'recv_oct', 'send_oct'];
const SUB_FIELDS = ['node', 'clientid', 'topic', 'qos', 'nl', 'rap', 'rh', 'durable'];
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/;

describe('HTTP API', () => {
  let g: ApiGateway;
  const clients: MqttClient[] = [];
  before(async () => {
    g = await startApiGateway({ auth: { acl: [{ permission: 'deny', action: 'publish', topics: ['secret/#'] }] } });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await g.stop();
  });
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${g.api}${path}`, { headers });
  const send = (method: string, path: string, body?: unknown, auth = true) =>
    fetch(`${g.api}${path}`, { method, headers: { ...(auth ? { authorization: g.auth } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, body: body === undefined ? undefined : JSON.stringify(body) });

  test('auth: loopback reads without a key; writes need one; a wrong key is 401', async () => {
    assert.equal((await get('/api/v5/clients')).status, 200);
    const write = await send('POST', '/api/v5/publish', { topic: 't/1', payload: 'x' }, false);
    assert.equal(write.status, 401);
    assert.match(write.headers.get('www-authenticate') ?? '', /^Basic/);
    assert.equal((await send('POST', '/api/v5/publish', { topic: 't/1', payload: 'x' })).status, 202);
    const wrong = `Basic ${Buffer.from(`${g.key.key}:not-the-secret`).toString('base64')}`;
    const r = await get('/api/v5/clients', { authorization: wrong });
    assert.equal(r.status, 401);
    assert.deepEqual(await json(r), { code: 'BAD_API_KEY_OR_SECRET', message: 'Check api_key/api_secret' });
    assert.equal((await json(await get('/api/v5/clients', { authorization: 'Token abc' }))).code, 'AUTHORIZATION_HEADER_ERROR');
    assert.equal((await get('/api/v5/clients', { authorization: g.auth })).status, 200);
  });

  test('auth: a caller that is not on loopback needs a key even to read', async (t) => {
    const addr = nonLoopbackAddress();
    if (!addr) return t.skip('this machine has no non-loopback IPv4 address (the anonymous_read: never test covers the rule)');
    const remote = `http://${addr}:${g.httpPort}`;
    const r = await fetch(`${remote}/api/v5/clients`);
    assert.equal(r.status, 401);
    assert.equal((await json(r)).code, 'BAD_API_KEY_OR_SECRET');
    assert.equal((await fetch(`${remote}/metrics`)).status, 401);
    assert.equal((await fetch(`${remote}/api/v5/status`)).status, 200);
  });

  test('clients, one client, its subscriptions, subscriptions: EMQX fields and paging', async () => {
    const a = await connect(g.url, { clientId: 'api-a', username: undefined, keepalive: 30 });
    const b = await connect(g.url, { clientId: 'api-b', clean: false });
    clients.push(a, b);
    await a.subscribeAsync({ 'x/+/y': { qos: 1 } });
    await a.subscribeAsync('z/#', { qos: 0 });
    await until(async () => (await json(await get('/api/v5/subscriptions?clientid=api-a'))).data.length === 2, 'subscriptions listed');
    const list = await json(await get('/api/v5/clients?limit=1'));
    assert.deepEqual(Object.keys(list.meta).sort(), ['count', 'hasnext', 'limit', 'page']);
    assert.equal(list.data.length, 1);
    assert.equal(list.meta.count, 2);
    assert.equal(list.meta.hasnext, true);
    const one = await json(await get('/api/v5/clients/api-a'));
    for (const f of CLIENT_FIELDS) assert.ok(f in one, `client field ${f}`);
    assert.equal(one.clientid, 'api-a');
    assert.equal(one.ip_address, '127.0.0.1');
    assert.equal(one.keepalive, 30);
    assert.equal(one.proto_name, 'MQTT');
    assert.equal(one.proto_ver, 4);
    assert.equal(one.connected, true);
    assert.equal(one.subscriptions_cnt, 2);
    assert.match(one.connected_at, RFC3339);
    assert.equal(typeof one.port, 'number');
    const filtered = await json(await get('/api/v5/clients?_like_clientid=api-&conn_state=connected&proto_name=MQTT&ip_address=127.0.0.1'));
    assert.equal(filtered.data.length, 2);
    assert.equal('count' in filtered.meta, false, 'a like_ filter leaves count out, as in EMQX');
    assert.deepEqual((await json(await get('/api/v5/clients?clientid=api-b&clientid=api-a'))).data.map((c: { clientid: string }) => c.clientid).sort(), ['api-a', 'api-b']);
    assert.equal((await get('/api/v5/clients?limit=0')).status, 400);
    assert.equal((await json(await get('/api/v5/clients?page=x'))).code, 'INVALID_PARAMETER');
    const subs = await json(await get('/api/v5/clients/api-a/subscriptions'));
    assert.ok(Array.isArray(subs), 'a plain array, as in EMQX');
    for (const f of SUB_FIELDS) assert.ok(f in subs[0], `subscription field ${f}`);
    assert.deepEqual(subs.map((s: { topic: string; qos: number }) => `${s.topic}:${s.qos}`).sort(), ['x/+/y:1', 'z/#:0']);
    const all = await json(await get('/api/v5/subscriptions?topic=z%2F%23'));
    assert.equal(all.data.length, 1);
    assert.equal(all.data[0].clientid, 'api-a');
    const missing = await get('/api/v5/clients/nobody');
    assert.equal(missing.status, 404);
    assert.deepEqual(await json(missing), { code: 'CLIENTID_NOT_FOUND', message: 'Client ID not found' });
    // A persistent session stays listed, disconnected, as EMQX lists it.
    await endClient(b);
    await until(async () => (await json(await get('/api/v5/clients/api-b'))).connected === false, 'api-b listed as disconnected');
    const off = await json(await get('/api/v5/clients/api-b'));
    assert.match(off.disconnected_at, RFC3339);
    assert.equal((await json(await get('/api/v5/clients?conn_state=disconnected'))).data[0].clientid, 'api-b');
  });

  test('kick disconnects the client, with reason kicked in $SYS', async () => {
    const watcher = await connect(g.url, { clientId: 'api-watch' });
    clients.push(watcher);
    await watcher.subscribeAsync('$SYS/brokers/+/clients/api-kick/disconnected');
    const victim = await connect(g.url, { clientId: 'api-kick' });
    const closed = new Promise<void>((r) => victim.once('close', () => r()));
    const event = collect(watcher, 1);
    assert.equal((await send('DELETE', '/api/v5/clients/api-kick', undefined, false)).status, 401, 'a kick is a write: it needs a key');
    const r = await send('DELETE', '/api/v5/clients/api-kick');
    assert.equal(r.status, 204);
    await closed;
    assert.equal(JSON.parse((await event)[0]!.payload).reason, 'kicked');
    victim.end(true);
    assert.equal((await send('DELETE', '/api/v5/clients/api-kick')).status, 404);
  });

  test('publish goes through the ACL and reaches a subscriber; 202 without subscribers', async () => {
    const sub = await connect(g.url, { clientId: 'api-sub' });
    clients.push(sub);
    await sub.subscribeAsync(['sensors/#', 'secret/#'], { qos: 1 });
    const got = collect(sub, 2);
    const ok = await send('POST', '/api/v5/publish', { topic: 'sensors/t1', payload: '21.5', qos: 1 });
    assert.equal(ok.status, 200);
    assert.match((await json(ok)).id, /^[0-9a-f]{32}$/);
    const b64 = await send('POST', '/api/v5/publish', { topic: 'sensors/t2', payload: Buffer.from('bin\u0000ary').toString('base64'), payload_encoding: 'base64' });
    assert.equal(b64.status, 200);
    const denied = await send('POST', '/api/v5/publish', { topic: 'secret/x', payload: 'no' });
    assert.equal(denied.status, 403);
    assert.deepEqual(await json(denied), { reason_code: 135, message: 'not_authorized' });
    assert.deepEqual((await got).map((m) => `${m.topic}=${m.payload}`), ['sensors/t1=21.5', 'sensors/t2=bin\u0000ary']);
    const none = await send('POST', '/api/v5/publish', { topic: 'nobody/listens', payload: 'x' });
    assert.equal(none.status, 202);
    assert.deepEqual(await json(none), { reason_code: 16, message: 'no_matching_subscribers' });
    assert.deepEqual(await json(await send('POST', '/api/v5/publish', { topic: 'a/+', payload: 'x' })), { reason_code: 144, message: 'topic_name_invalid' });
    assert.equal((await send('POST', '/api/v5/publish', { payload: 'x' })).status, 400);
  });

  test('status, gateways, bridge, adapters, devices, openapi', async () => {
    const text = await get('/api/v5/status');
    assert.equal(text.headers.get('retry-after'), '15');
    assert.match(await text.text(), /^Node fieldgate is started\n/);
    assert.deepEqual(Object.keys(await json(await get('/api/v5/status?format=json'))).sort(), ['app_status', 'broker_status', 'node_name', 'rel_vsn']);
    assert.ok(Array.isArray(await json(await get('/api/v5/gateways'))));
    assert.ok(Array.isArray(await json(await get('/api/v5/bridge'))));
    assert.ok(Array.isArray(await json(await get('/api/v5/adapters'))));
    assert.deepEqual(await json(await get('/api/v5/components')), [{ name: 'http', state: 'running', restarts: 0, last_error: null }]);
    assert.deepEqual((await json(await get('/api/v5/summary'))).components, [{ name: 'http', state: 'running', restarts: 0, last_error: null }]);
    assert.equal((await get('/api/v5/gateways/nope/clients')).status, 404);
    const devices = await json(await get('/api/v5/devices'));
    assert.deepEqual(Object.keys(devices.meta).sort(), ['count', 'hasnext', 'limit', 'page']);
    const doc = await json(await get('/api/v5/openapi.json'));
    assert.equal(doc.openapi, '3.0.3');
    for (const p of ['/api/v5/clients', '/api/v5/clients/{clientid}', '/api/v5/clients/{clientid}/subscriptions', '/api/v5/subscriptions', '/api/v5/gateways', '/api/v5/gateways/{name}/clients', '/api/v5/publish', '/api/v5/bridge', '/api/v5/adapters', '/api/v5/components', '/api/v5/devices', '/api/v5/banned', '/api/v5/trace', '/metrics', '/api/v5/prometheus/stats', '/api/v5/status']) {
      assert.ok(doc.paths[p], `openapi has ${p}`);
    }
    assert.equal(doc.paths['/api/v5/publish'].post.requestBody.content['application/json'].schema.required.includes('topic'), true);
    assert.ok(Object.values(doc.paths).every((ops) => !('head' in (ops as object))), 'HEAD is no operation of its own');
    assert.equal((await get('/no/such/route')).status, 404);
  });

  test('HEAD is answered on /, /status, /api/v5/status and /metrics only (docs/operations.md)', async () => {
    for (const p of ['/', '/status', '/api/v5/status', '/metrics']) {
      const res = await fetch(`${g.api}${p}`, { method: 'HEAD' });
      assert.equal(res.status, 200, `HEAD ${p}`);
      assert.ok(Number(res.headers.get('content-length')) > 0, `HEAD ${p} gives the GET's length`);
      assert.equal(await res.text(), '', `HEAD ${p} has no body`);
    }
    for (const p of ['/api/v5/clients', '/index.html', '/api/v5/openapi.json']) assert.equal((await fetch(`${g.api}${p}`, { method: 'HEAD' })).status, 404, `HEAD ${p}`);
  });
});

describe('HTTP API with anonymous_read: never', () => {
  test('every request needs a key, from loopback too (status excepted); repeated wrong keys get 429', async () => {
    const g = await startApiGateway({ http: { anonymous_read: 'never', auth_failure_rate: '3/m' } });
    try {
      assert.equal((await fetch(`${g.api}/api/v5/clients`)).status, 401);
      assert.equal((await fetch(`${g.api}/api/v5/clients`, { headers: { authorization: g.auth } })).status, 200);
      assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
      // auth_failure_rate 3/m: once three wrong attempts used the bucket up, the address gets 429
      // without its credentials being checked, the right key included, until the bucket refills.
      const wrong = `Basic ${Buffer.from(`${g.key.key}:wrong`).toString('base64')}`;
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) codes.push((await fetch(`${g.api}/api/v5/clients`, { headers: { authorization: wrong } })).status);
      assert.deepEqual(codes.slice(0, 3), [401, 401, 401]);
      assert.deepEqual(codes.slice(3), [429, 429]);
      const refused = await fetch(`${g.api}/api/v5/clients`, { headers: { authorization: g.auth } });
      assert.equal(refused.status, 429);
      assert.equal(refused.headers.get('retry-after'), '60');
    } finally {
      await g.stop();
    }
  });
});
