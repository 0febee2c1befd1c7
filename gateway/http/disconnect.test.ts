// An operator's device disconnect (DELETE /api/v5/devices/{protocol}/{id}, GatewayControls
// disconnectDevice) for the adapters with sessions beyond CoAP and LwM2M (controls.test.ts):
// tcp over real sockets, BLE on the simulated controller, a LoRa node through the emulated RAK3172.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { bleRig, scanning } from '../../adapters/ble/test-kit.ts';
import { startModemGateway, waitReady } from '../../adapters/modem/test-kit.ts';
import { tcpAdapter } from '../../adapters/tcp/index.ts';
import { gattDevice } from '../../firmware-sim/ble/fixtures.ts';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { TcpDevice, type Downlink } from '../../firmware-sim/tcp/client.ts';
import { collect, connect, endClient, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { opsViewOf } from './gateway-view.ts';
import { adaptersOf } from './routes/fieldgate.ts';
import { json, startApiGateway } from './test/support.ts';

describe('device disconnect by an operator', () => {
  test('tcp: the socket is closed (reason kicked) and the v2 session forgotten: a resume starts clean', async () => {
    const g = await startApiGateway({ adapters: { tcp: { enabled: true, host: '127.0.0.1', port: 0 } } }, [tcpAdapter]);
    const mq = await connect(g.url);
    try {
      const port = g.gw.adapterPorts('tcp').tcp!;
      await mq.subscribeAsync('$SYS/brokers/+/gateway/tcp/clients/+/disconnected');
      const opts = { port, clientid: 'kick-me', version: 2 as const, resume: true };
      const dev = new TcpDevice(opts);
      await dev.connect();
      const closed = new Promise((r) => dev.once('close', r));
      const event = collect(mq, 1);
      const del = await fetch(`${g.api}/api/v5/devices/tcp/kick-me`, { method: 'DELETE', headers: { authorization: g.auth } });
      assert.equal(del.status, 204);
      await closed;
      assert.equal(JSON.parse((await event)[0]!.payload).reason, 'kicked');
      // Queued while away: a remembered session would deliver it on resume; a forgotten one does not.
      await mq.publishAsync('tcp/kick-me/dn', 'stale', { qos: 1 });
      const back = new TcpDevice(opts);
      const got: string[] = [];
      back.on('message', (m: Downlink) => got.push(m.data.toString()));
      await back.connect();
      assert.equal(back.sessionPresent, false);
      await mq.publishAsync('tcp/kick-me/dn', 'marker', { qos: 1 });
      await until(() => got.includes('marker'), 'the marker downlink');
      assert.deepEqual(got, ['marker']);
      // EMQX's gateway client paths: the device as a gateway client, and its kick.
      const gw = (await json(await fetch(`${g.api}/api/v5/gateways`))) as Record<string, unknown>[];
      for (const f of ['name', 'status', 'current_connections', 'listeners']) assert.ok(f in gw[0]!, `gateway field ${f}`);
      const one = await json(await fetch(`${g.api}/api/v5/gateways/tcp/clients/kick-me`));
      for (const f of ['node', 'clientid', 'username', 'mountpoint', 'proto_name', 'ip_address', 'port', 'connected', 'created_at', 'is_bridge']) assert.ok(f in one, `gateway client field ${f}`);
      assert.equal(one.connected, true);
      const closedAgain = new Promise((r) => back.once('close', r));
      assert.equal((await fetch(`${g.api}/api/v5/gateways/tcp/clients/kick-me`, { method: 'DELETE' })).status, 401, 'a kick needs a key');
      assert.equal((await fetch(`${g.api}/api/v5/gateways/tcp/clients/kick-me`, { method: 'DELETE', headers: { authorization: g.auth } })).status, 204);
      await closedAgain;
      assert.equal((await fetch(`${g.api}/api/v5/gateways/tcp/clients/kick-me`, { method: 'DELETE', headers: { authorization: g.auth } })).status, 404);
      const missing = await fetch(`${g.api}/api/v5/devices/tcp/nobody`, { method: 'DELETE', headers: { authorization: g.auth } });
      assert.equal(missing.status, 404);
      assert.equal((await json(missing)).code, 'NOT_FOUND');
    } finally {
      await endClient(mq);
      await g.stop();
    }
  });

  test('ble: the GATT connection is closed and the device reported offline (kicked) until it is heard again', async () => {
    const dev = gattDevice();
    const rig = await bleRig({ allow: { addresses: [dev.address] }, gatt: { idle_timeout: 0 } });
    try {
      const id = 'c0ffee000001';
      rig.sim.add(dev);
      await scanning(rig.sim);
      rig.sim.advertise(dev);
      await until(() => rig.gw.gw.registry.get('ble', id)?.online === true, 'the device online');
      await rig.client.publishAsync(`ble/${id}/dn`, JSON.stringify({ id: 'c1', cmd: 'connect' }), { qos: 1 });
      await until(() => rig.sim.isConnected(dev.address), 'the GATT connection');

      assert.equal(await rig.gw.gw.controls.disconnectDevice('ble', id), 'ok');
      await until(() => !rig.sim.isConnected(dev.address), 'the controller sees the disconnect');
      assert.equal(rig.gw.gw.registry.get('ble', id)?.online, false);
      await rig.waitFor(/^ble\/c0ffee000001\/resp$/, 2);
      assert.ok(rig.got.some((m) => m.topic === `ble/${id}/resp` && m.body.event === 'disconnected' && m.body.reason === 'kicked'));
      assert.equal(await rig.gw.gw.controls.disconnectDevice('ble', id), 'not_found', 'nothing left to end');
      rig.sim.advertise(dev);
      await until(() => rig.gw.gw.registry.get('ble', id)?.online === true, 'online again at its next advertisement');
    } finally {
      await rig.stop();
    }
  });

  const skip = missingTool('socat', 'socat');
  test('modem: a LoRa node kicked by its id has its frame counter forgotten (a reflashed node is heard again)', { skip }, async () => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const dir = mkdtempSync(join(tmpdir(), 'fg-kick-'));
    const sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
    const g = await startModemGateway([
      { name: 'lora0', type: 'rak3172', path: sim.path, frames: 'fieldgate', counters_file: join(dir, 'counters.json'), lora: { frequency: 868_100_000, sf: 7 }, nodes: [{ id: '0000002a', key: key.toString('hex'), decoder: 'hex' }] },
    ]);
    try {
      await waitReady(g, 'lora0');
      // The modem registers its devices under lora, not its adapter name: they count as its own.
      await until(() => g.gw.registry.get('lora', 'lora0')?.online === true, 'the modem lora0 online in the registry');
      assert.equal(adaptersOf(opsViewOf(g.gw.view, g.gw.controls)).find((a) => a.name === 'modem')?.devices_online, 1);
      const up = () => g.got.filter((m) => m.topic === 'lora/0000002a/up').map((m) => m.body.counter);
      sim.emulator.rx({ payload: nodeFrame(key, 0x2a, 100, 1, Buffer.from('01', 'hex')) });
      await until(() => up().length === 1, 'the first frame');
      sim.emulator.rx({ payload: nodeFrame(key, 0x2a, 1, 1, Buffer.from('02', 'hex')) });
      await until(() => g.metric('lora0/frames/dropped/replay') === 1, 'the restarted counter refused as a replay');

      assert.equal(await g.gw.controls.disconnectDevice('lora', '0000002a'), 'ok');
      assert.equal(g.gw.registry.get('lora', '0000002a')?.online, false);
      sim.emulator.rx({ payload: nodeFrame(key, 0x2a, 1, 1, Buffer.from('03', 'hex')) });
      await until(() => up().length === 2, 'the counter accepted after the kick');
      assert.deepEqual(up(), [100, 1]);
      assert.equal(await g.gw.controls.disconnectDevice('lora', '0000002b'), 'not_found', 'not a configured node');
      assert.equal(await g.gw.controls.disconnectDevice('modem', '0000002a'), 'ok', 'the adapter name works too');
    } finally {
      await g.stop();
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
