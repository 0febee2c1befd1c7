import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// What must survive a gateway restart, with nothing but gateway.data_dir configured: the last frame
// counter per node (replay protection) and the duty-cycle ledger.

const skip = missingTool('socat', 'socat');
const KEY = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');

describe('modem adapter state across a restart (RAK3172 emulator on a pty)', { skip }, () => {
  let sim: LoraModuleSim;
  let g: ModemTestGateway | undefined;
  const data = tempDir('fg-lora-restart-');
  const modem = () => ({ name: 'lora0', type: 'rak3172', path: sim.path, frames: 'fieldgate', lora: { frequency: 868_100_000, sf: 12 }, duty_cycle: { max_wait: '0s' }, nodes: [{ id: '0000002a', key: KEY.toString('hex'), decoder: 'hex' }] });
  const start = async () => {
    g = await startModemGateway([modem()], ['lora/#'], { dataDir: data.path });
    await waitReady(g, 'lora0');
    return g;
  };

  before(async () => {
    sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
    data.remove();
  });

  test('replay protection: counters are on disk soon after a frame (no counters_file set), and a frame replayed after a restart is dropped', async () => {
    let gw = await start();
    const frames = [1, 2, 3].map((c) => nodeFrame(KEY, 0x2a, c, 1, Buffer.from([c])));
    for (const f of frames) sim.emulator.rx({ payload: f });
    await until(() => gw.got.filter((m) => m.topic === 'lora/0000002a/up').length === 3, 'three frames');
    const file = join(data.path, 'lora-counters-lora0.json');
    // Written while the gateway runs, not only at stop.
    await until(() => {
      try {
        return (JSON.parse(readFileSync(file, 'utf8')) as Record<string, number>)['0000002a'] === 3;
      } catch {
        return false;
      }
    }, 'counter 3 on disk');
    await gw.stop();
    g = undefined;
    gw = await start();
    for (const f of frames) sim.emulator.rx({ payload: f });
    sim.emulator.rx({ payload: nodeFrame(KEY, 0x2a, 4, 1, Buffer.from([4])) });
    await until(() => gw.got.some((m) => m.topic === 'lora/0000002a/up'), 'the fresh frame');
    await until(() => gw.metric('lora0/frames/dropped/replay') + gw.metric('lora0/frames/dropped/duplicate') === 3, 'replays dropped');
    assert.deepEqual(gw.got.filter((m) => m.topic === 'lora/0000002a/up').map((m) => m.body.counter), [4]);
  });

  test('duty cycle: the last hour\'s transmissions survive a restart, so a restarted gateway gets no fresh budget', async () => {
    await g?.stop();
    g = undefined;
    let gw = await start();
    const big = 'ab'.repeat(255);
    const status = (gw2: ModemTestGateway) => gw2.got.filter((m) => m.topic === 'lora/lora0/dn/status');
    for (let i = 1; i <= 3; i++) await gw.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: big, id: i }), { qos: 1 });
    await until(() => status(gw).length === 3, 'three statuses');
    assert.deepEqual(status(gw).map((m) => m.body.status), ['sent', 'sent', 'sent']);
    await gw.stop();
    g = undefined;
    gw = await start();
    assert.equal(gw.metric('lora0/duty_cycle/used_seconds'), 27.058);
    await gw.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: big, id: 4 }), { qos: 1 });
    await until(() => status(gw).length === 1, 'status of the fourth');
    assert.equal(status(gw)[0]?.body.status, 'refused');
    assert.equal(status(gw)[0]?.body.cause, 'duty_cycle');
  });
});
