// EMQX's gateway endpoints over real HTTP: each adapter's listeners as it bound them, and the modem
// adapter's devices (registered under lora/nbiot, not under its name) as its gateway clients.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { connect as tcpConnect } from 'node:net';
import { describe, test } from 'node:test';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { startModemGateway, waitReady } from '../../adapters/modem/test-kit.ts';
import { tcpAdapter } from '../../adapters/tcp/index.ts';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { json, startApiGateway } from './test/support.ts';

interface Listener { id: string; type: string; name: string; bind: string; running: boolean }

describe('/api/v5/gateways', () => {
  test("listeners: each adapter's bound sockets in EMQX's shape, reachable at their bind", async () => {
    const g = await startApiGateway({
      adapters: { tcp: { enabled: true, host: '127.0.0.1', port: 0 }, coap: { enabled: true, host: '127.0.0.1', port: 0, ipv6: { enabled: false } } },
    }, [tcpAdapter, coapAdapter]);
    try {
      const gws = (await json(await fetch(`${g.api}/api/v5/gateways`))) as { name: string; listeners: Listener[] }[];
      const of = (name: string) => gws.find((x) => x.name === name)?.listeners;
      const tcpPort = g.gw.adapterPorts('tcp').tcp!;
      const coapPort = g.gw.adapterPorts('coap').udp!;
      assert.deepEqual(of('tcp'), [{ id: 'tcp:tcp:default', type: 'tcp', name: 'default', bind: `127.0.0.1:${tcpPort}`, running: true }]);
      assert.deepEqual(of('coap'), [{ id: 'coap:udp:default', type: 'udp', name: 'default', bind: `127.0.0.1:${coapPort}`, running: true }]);

      // The bind is where the adapter answers: a TCP connect succeeds, a CoAP ping gets its reset.
      const [host, port] = of('tcp')![0]!.bind.split(':');
      await new Promise<void>((resolve, reject) => {
        const s = tcpConnect({ host, port: Number(port) }, () => {
          s.destroy();
          resolve();
        }).once('error', reject);
      });
      const [chost, cport] = of('coap')![0]!.bind.split(':');
      const udp = createSocket('udp4');
      try {
        const reply = new Promise<Buffer>((resolve) => udp.once('message', resolve));
        udp.send(Buffer.from([0x40, 0x00, 0x12, 0x34]), Number(cport), chost); // CON empty: a CoAP ping
        assert.equal(((await reply)[0]! >> 4) & 0x3, 3, 'a RST from the CoAP adapter');
      } finally {
        udp.close();
      }
    } finally {
      await g.stop();
    }
  });

  const skip = missingTool('socat', 'socat');
  test("modem: its LoRa modem and nodes are the modem gateway's clients", { skip }, async () => {
    const key = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
    const sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
    const g = await startModemGateway(
      [{ name: 'lora0', type: 'rak3172', path: sim.path, frames: 'fieldgate', lora: { frequency: 868_100_000, sf: 7 }, nodes: [{ id: '0000002a', key: key.toString('hex'), decoder: 'hex' }] }],
      ['lora/#'],
      { http: { enabled: true, host: '127.0.0.1', port: 0 } },
    );
    try {
      const api = `http://127.0.0.1:${g.gw.services.get('http/api')!.port}`;
      await waitReady(g, 'lora0');
      sim.emulator.rx({ payload: nodeFrame(key, 0x2a, 7, 1, Buffer.from('01', 'hex')) });
      await until(() => g.got.some((m) => m.topic === 'lora/0000002a/up'), 'the node heard');

      const page = await json(await fetch(`${api}/api/v5/gateways/modem/clients`));
      const ids = (page.data as { clientid: string }[]).map((c) => c.clientid).sort();
      assert.deepEqual(ids, ['0000002a', 'lora0']);
      assert.equal(page.meta.count, 2);
      const node = await json(await fetch(`${api}/api/v5/gateways/modem/clients/0000002a`));
      assert.equal(node.proto_name, 'LORA');
      // A LoRa node has no connection to be in: it is connected while heard within presence_timeout.
      assert.equal(node.connected, true);
      assert.ok(Date.parse(node.last_seen_at) > 0);
      assert.equal(node.ip_address, 'lora0', 'a LoRa node has no IP: its address is the modem that heard it');
      assert.equal(node.port, null);
      const online = await json(await fetch(`${api}/api/v5/gateways/modem/clients?conn_state=connected`));
      assert.deepEqual(online.data.map((c: { clientid: string }) => c.clientid).sort(), ['0000002a', 'lora0']);
      assert.equal((await fetch(`${api}/api/v5/gateways/modem/clients/0000002b`)).status, 404);

      const gws = (await json(await fetch(`${api}/api/v5/gateways`))) as { name: string; current_connections: number; listeners: unknown[] }[];
      const modem = gws.find((x) => x.name === 'modem')!;
      assert.equal(modem.current_connections, 2);
      assert.deepEqual(modem.listeners, [], 'a serial module is no socket listener');
    } finally {
      await g.stop();
      await sim.stop();
    }
  });
});
