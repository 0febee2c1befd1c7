// The operator's controls over real HTTP: restart an adapter, end a device's session, with the
// real CoAP and LwM2M adapters and devices (firmware-sim) on 127.0.0.1.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { lwm2mAdapter } from '../../adapters/lwm2m/index.ts';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { SimDevice } from '../../firmware-sim/lwm2m/device.ts';
import { hashPassword } from '../auth/password.ts';
import { collect, connect, endClient, until } from '../test/helpers.ts';
import { json, startApiGateway, type ApiGateway } from './test/support.ts';

describe('HTTP API: operator controls', () => {
  let g: ApiGateway;
  let coap: CoapClient;
  let lwm2m: SimDevice;
  before(async () => {
    const udp = { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } };
    g = await startApiGateway({ adapters: { coap: { ...udp, connection_required: true }, lwm2m: udp }, auth: { users: [{ username: 'alice', password_hash: await hashPassword('s3cret') }] } }, [coapAdapter, lwm2mAdapter]);
    coap = await CoapClient.open('127.0.0.1', g.gw.adapterPorts('coap').udp!);
    lwm2m = await SimDevice.create({ host: '127.0.0.1', port: g.gw.adapterPorts('lwm2m').udp!, ep: 'ctl-1' });
  });
  after(async () => {
    coap.close();
    lwm2m.close();
    await g.stop();
  });
  const send = (method: string, path: string, auth = true) => fetch(`${g.api}${path}`, { method, headers: auth ? { authorization: g.auth } : {} });

  test('DELETE /api/v5/devices/{protocol}/{id} ends a CoAP session and an LwM2M registration', async () => {
    const watcher = await connect(g.url);
    await watcher.subscribeAsync('$SYS/brokers/+/gateway/+/clients/+/disconnected');
    const created = await coap.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd1', u: 'alice', p: 's3cret' } });
    assert.equal(created.code, '2.01');
    assert.equal(await lwm2m.register(), '2.01');
    await until(() => g.gw.registry.get('lwm2m', 'ctl-1')?.online === true, 'lwm2m device online');

    assert.equal((await send('DELETE', '/api/v5/devices/coap/d1', false)).status, 401, 'a write needs a key');
    const events = collect(watcher, 2);
    assert.equal((await send('DELETE', '/api/v5/devices/coap/d1')).status, 204);
    assert.equal((await send('DELETE', '/api/v5/devices/lwm2m/ctl-1')).status, 204);
    const got = await events;
    assert.deepEqual(got.map((e) => [e.topic.split('/')[4], e.topic.split('/')[6], JSON.parse(e.payload).reason]).sort(), [['coap', 'd1', 'kicked'], ['lwm2m', 'ctl-1', 'kicked']]);
    // The session is gone: its token no longer works, the registration must be made again.
    assert.equal((await coap.request({ method: 'PUT', path: '/mqtt/connection', query: { c: 'd1', t: created.payload.toString() } })).code, '4.01');
    assert.equal(await lwm2m.update(), '4.04');

    const missing = await send('DELETE', '/api/v5/devices/coap/d1');
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).code, 'NOT_FOUND');
    assert.equal((await send('DELETE', '/api/v5/devices/tcp/x')).status, 404, 'no such adapter running');
    await endClient(watcher);
  });

  test('POST /api/v5/adapters/{name}/restart restarts it now; an unknown name is 404', async () => {
    assert.equal((await send('POST', '/api/v5/adapters/lwm2m/restart')).status, 204);
    const h = (await json(await fetch(`${g.api}/api/v5/adapters`))) as { name: string; state: string; restarts: number }[];
    assert.deepEqual(h.filter((a) => a.name === 'lwm2m').map((a) => [a.state, a.restarts]), [['running', 1]]);
    assert.equal((await send('POST', '/api/v5/adapters/nope/restart')).status, 404);
    // The restarted adapter serves again (a new socket, the same configured port 0 -> a new port).
    const port = g.gw.adapterPorts('lwm2m').udp!;
    const d = await SimDevice.create({ host: '127.0.0.1', port, ep: 'ctl-2' });
    try {
      assert.equal(await d.register(), '2.01');
    } finally {
      d.close();
    }
  });
});
