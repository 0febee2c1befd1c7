// Device identity end to end: what auth, the registry, $SYS and the HTTP API make of devices that
// are not "ip:port" on the gateway's LAN. A CoAP device behind a modem (a relayed datagram
// transport, as the modem adapter provides its NB-IoT socket), and a test adapter's BLE, serial and
// LoRa devices, through the real gateway.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { hashPassword } from '../auth/password.ts';
import type { AdapterContext, AdapterDefinition, DeviceIdentity } from '../core/adapter.ts';
import { json, startApiGateway, type ApiGateway } from '../http/test/support.ts';
import { relayModemAdapter } from './datagram-pair.ts';
import { collect, connect, endClient } from './helpers.ts';

const schema = z.strictObject({ enabled: z.boolean().default(false) });
let sensors: AdapterContext | undefined;
const sensorsAdapter: AdapterDefinition<typeof schema> = {
  name: 'sensors',
  configSchema: schema,
  create: () => ({
    async start(ctx) {
      sensors = ctx;
    },
    async stop() {},
  }),
};

const ble: DeviceIdentity = { protocol: 'sensors', transport: 'ble', id: 'tag-1', address: '54:48:e6:00:00:01' };
const serial: DeviceIdentity = { protocol: 'sensors', transport: 'serial', id: 'modem-1', address: '/dev/ttyUSB0' };
const node: DeviceIdentity = { protocol: 'sensors', transport: 'lora', id: '0a0b0c0d', address: 'lora0', via: 'lora0' };

describe('device identity', () => {
  const nb0 = relayModemAdapter('nb0', 'coap', 512);
  let g: ApiGateway;
  let coapPort: number;
  const clients: CoapClient[] = [];
  const client = async (port: number) => {
    const c = await CoapClient.open('127.0.0.1', port);
    clients.push(c);
    return c;
  };
  const record = (protocol: string, id: string) => g.gw.registry.list(protocol).find((d) => d.id === id);

  before(async () => {
    g = await startApiGateway({
      // Defaults: anonymous devices only from loopback, no ACL rule (deny unless loopback).
      auth: { users: [{ username: 'meter', password_hash: await hashPassword('meter-pw') }], acl: [
        { permission: 'allow', user: 'meter', action: 'all', topics: ['nb/#'] },
        // Rules by "address": a BLE MAC is one (docs/ble.md); a serial path is not.
        { permission: 'allow', ipaddress: '54:48:e6:00:00:01', action: 'publish', topics: ['sensors/ble'] },
        { permission: 'allow', ipaddress: '/dev/ttyUSB0', action: 'publish', topics: ['sensors/serial'] },
      ] },
      adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } }, 'relay-nb0': { enabled: true }, sensors: { enabled: true } },
    }, [coapAdapter, nb0.def, sensorsAdapter]);
    coapPort = g.gw.adapterPorts('coap').udp!;
  });
  after(async () => {
    for (const c of clients) c.close();
    await g.stop();
  });

  test('a device behind a modem gets no loopback privileges, whatever source address it reports', async () => {
    // The relay's devices send from 127.0.0.1, as a LAN device on this host does.
    const lan = await client(coapPort);
    assert.equal((await lan.request({ method: 'POST', path: '/ps/nb/anon', query: { c: 'lan-1' }, payload: 'x' })).code, '2.04', 'a local device may publish anonymously');
    const behindModem = await client(nb0.current().port);
    const res = await behindModem.request({ method: 'POST', path: '/ps/nb/anon', query: { c: 'nb-1' }, payload: 'x' });
    assert.equal(res.code, '4.01', 'anonymous from the operator network is not loopback');
  });

  test('a device that came through a datagram transport records via; moving to the LAN clears it', async () => {
    const sub = await connect(g.url);
    await sub.subscribeAsync('nb/meter/9', { qos: 1 });
    const got = collect(sub, 2);
    const query = { c: 'meter-9', u: 'meter', p: 'meter-pw' };
    const behindModem = await client(nb0.current().port);
    assert.equal((await behindModem.request({ method: 'POST', path: '/ps/nb/meter/9', query, payload: '1' })).code, '2.04');
    const viaModem = record('coap', 'meter-9');
    assert.deepEqual([viaModem?.transport, viaModem?.address, viaModem?.via], ['udp', `127.0.0.1:${behindModem.socket.address().port}`, 'nb0']);
    const api = await json(await fetch(`${g.api}/api/v5/devices?protocol=coap`));
    const row = api.data.find((d: { id: string }) => d.id === 'meter-9');
    assert.deepEqual([row.transport, row.via], ['udp', 'nb0']);

    const lan = await client(coapPort);
    assert.equal((await lan.request({ method: 'POST', path: '/ps/nb/meter/9', query, payload: '2' })).code, '2.04');
    const onLan = record('coap', 'meter-9');
    assert.deepEqual([onLan?.address, onLan?.via], [`127.0.0.1:${lan.socket.address().port}`, undefined]);
    assert.equal((await got).length, 2);
    await endClient(sub);
  });

  test('BLE, serial and LoRa devices: no IP guessed from their addresses in $SYS and the API', async () => {
    const watcher = await connect(g.url);
    await watcher.subscribeAsync('$SYS/brokers/+/gateway/sensors/clients/+/connected');
    const events = collect(watcher, 3);
    for (const d of [ble, serial, node]) sensors!.messages.deviceConnected(d);
    const byId = new Map((await events).map((e) => [e.topic.split('/')[6], JSON.parse(e.payload) as { ipaddress: string | null }]));
    // docs/ble.md: a BLE device's ipaddress is its whole MAC; a serial module and a LoRa node have none.
    assert.deepEqual([byId.get('tag-1')?.ipaddress, byId.get('modem-1')?.ipaddress, byId.get('0a0b0c0d')?.ipaddress], ['54:48:e6:00:00:01', null, null]);

    const clientsApi = await json(await fetch(`${g.api}/api/v5/gateways/sensors/clients`));
    const row = (id: string) => clientsApi.data.find((c: { clientid: string }) => c.clientid === id) as { ip_address: string | null; port: number | null };
    assert.deepEqual(row('tag-1'), { ...row('tag-1'), ip_address: '54:48:e6:00:00:01', port: null }, 'the MAC is not split into "54:48:e6:00:00" and port 1');
    assert.deepEqual([row('modem-1').ip_address, row('modem-1').port], ['/dev/ttyUSB0', null]);
    const devices = await json(await fetch(`${g.api}/api/v5/devices?protocol=sensors`));
    const lora = devices.data.find((d: { id: string }) => d.id === '0a0b0c0d');
    assert.deepEqual([lora.transport, lora.address, lora.via], ['lora', 'lora0', 'lora0']);
    await endClient(watcher);
  });

  test('ACL rules by address: a BLE MAC matches, a serial path is not an address', async () => {
    await sensors!.messages.publish({ topic: 'sensors/ble', payload: 'x', device: ble });
    await assert.rejects(sensors!.messages.publish({ topic: 'sensors/serial', payload: 'x', device: serial }), /may not publish/);
  });
});
