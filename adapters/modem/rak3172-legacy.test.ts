import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingTool } from '../../gateway/test/tools.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// RUI3 before v3.2 reported a packet as two lines: "+EVT:RXP2P, RSSI -110, SNR 5" then "+EVT:<hex>".

describe('RAK3172 with the pre-3.2 two-line receive event', { skip: missingTool('socat', 'socat') }, () => {
  let sim: LoraModuleSim;
  let g: ModemTestGateway;

  before(async () => {
    sim = await LoraModuleSim.start('rak3172', { nwm: 0, legacyEvents: true, version: '3.1.0', airtimeScale: 0 });
    g = await startModemGateway([{ name: 'old0', type: 'rak3172', path: sim.path }]);
    await waitReady(g, 'old0');
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
  });

  test('payload, RSSI and SNR are put together from both lines', async () => {
    sim.emulator.rx({ payload: Buffer.from('00112233', 'hex'), rssi: -110, snr: 5 });
    sim.emulator.rx({ payload: Buffer.from('44', 'hex'), rssi: -20, snr: -3 });
    await until(() => g.got.filter((m) => m.topic === 'lora/old0/up').length === 2, 'two frames');
    const b = g.got.filter((m) => m.topic === 'lora/old0/up').map((m) => [m.body.payload, m.body.rssi, m.body.snr]);
    assert.deepEqual(b, [
      ['00112233', -110, 5],
      ['44', -20, -3],
    ]);
    assert.equal(g.metric('old0/at/unexpected_lines'), 0);
  });
});
