import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { startModemGateway, until, waitReady } from './test-kit.ts';

// A LoRa node has no connection to be in: it is online (connected in the registry, $SYS and
// /api/v5/gateways/modem/clients) from its first accepted frame until it has not been heard for
// presence_timeout, then offline with reason presence_timeout, and online again at its next frame.
// Over the emulated RAK3172 on a pty, frames built by the simulator's own encoder.

const KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');

test('a LoRa node is connected while heard within presence_timeout', { skip: missingTool('socat', 'socat') }, async () => {
  const sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
  const g = await startModemGateway(
    [{ name: 'lora0', type: 'rak3172', path: sim.path, frames: 'fieldgate', presence_timeout: '5s', nodes: [{ id: '0000002a', key: KEY.toString('hex') }, { id: '0000002b', key: KEY.toString('hex') }] }],
    ['lora/#', '$SYS/brokers/+/gateway/lora/clients/#'],
    { http: { enabled: true, host: '127.0.0.1', port: 0 } },
  );
  try {
    const api = `http://127.0.0.1:${g.gw.services.get('http/api')!.port}/api/v5/gateways/modem/clients`;
    const client = async (id: string) => (await (await fetch(`${api}/${id}`)).json()) as { connected: boolean; conn_state: string };
    const events = (what: string) => g.got.filter((m) => m.topic.endsWith(`/clients/0000002a/${what}`));
    await waitReady(g, 'lora0');

    // A frame that fails its check (wrong key) is no sign of life.
    sim.emulator.rx({ payload: nodeFrame(Buffer.alloc(16), 0x2b, 1, 1, Buffer.from('01', 'hex')) });
    await until(() => g.metric('lora0/frames/dropped/bad_mic') === 1, 'the forged frame dropped');
    sim.emulator.rx({ payload: nodeFrame(KEY, 0x2a, 1, 1, Buffer.from('01', 'hex')) });
    await until(() => events('connected').length === 1, 'the node connected ($SYS)');
    assert.deepEqual(await client('0000002a').then((c) => [c.connected, c.conn_state]), [true, 'connected']);
    const online = (await (await fetch(`${api}?conn_state=connected`)).json()) as { data: { clientid: string }[] };
    assert.deepEqual(online.data.map((c) => c.clientid).sort(), ['0000002a', 'lora0'], 'a node not heard (only a forged frame) is not online');

    await until(() => events('disconnected').length === 1, 'the node offline after presence_timeout', 20_000);
    assert.equal(events('disconnected')[0]!.body.reason, 'presence_timeout');
    assert.deepEqual(await client('0000002a').then((c) => [c.connected, c.conn_state]), [false, 'disconnected']);

    sim.emulator.rx({ payload: nodeFrame(KEY, 0x2a, 2, 1, Buffer.from('02', 'hex')) });
    await until(() => events('connected').length === 2, 'online again at its next frame');
    assert.equal((await client('0000002a')).connected, true);
  } finally {
    await g.stop();
    await sim.stop();
  }
});
