import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { tempDir } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { LoraModuleSim } from '../modem/lora-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from '../../adapters/modem/test-kit.ts';

// Compiles the C node-frame encoder firmware authors copy (fglora.c) with the system compiler, checks
// its AES-CMAC against RFC 4493, and sends its frames through an emulated RAK3172 into a real gateway.

const here = dirname(fileURLToPath(import.meta.url));
const KEY = '000102030405060708090a0b0c0d0e0f';

describe('C LoRa node-frame encoder (firmware-sim/c/fglora.c)', () => {
  const skip = missingTool('cc', 'gcc') ?? missingTool('socat', 'socat');
  const dir = tempDir('fieldgate-fglora-');
  let bin = '';
  let sim: LoraModuleSim;
  let g: ModemTestGateway;

  const run = (...args: string[]) => {
    const r = spawnSync(bin, args, { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };

  before(async () => {
    if (skip) return;
    bin = join(dir.path, 'fglora-demo');
    const cc = spawnSync('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2', '-o', bin, join(here, 'fglora.c'), join(here, 'fglora-demo.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `cc failed:\n${cc.stderr}`);
    sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
    g = await startModemGateway([{ name: 'lora0', type: 'rak3172', path: sim.path, frames: 'fieldgate', nodes: [{ id: 'c0de0001', key: KEY, decoder: 'lpp' }] }]);
    await waitReady(g, 'lora0');
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
    dir.remove();
  });

  test('uses no dynamic allocation', { skip }, () => {
    for (const f of ['fglora.c', 'fglora.h']) {
      const src = readFileSync(join(here, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
      assert.doesNotMatch(src, /\b(malloc|calloc|realloc|free)\s*\(/, f);
    }
  });

  test('AES-CMAC matches RFC 4493 examples 1-4', { skip }, () => {
    const out = run(KEY, '1', '1', '1', '', '0');
    assert.match(out, /^cmac0 bb1d6929e95937287fa37d129b756746$/m);
    assert.match(out, /^cmac16 070a16b46b4d4144f79bdd9dd04a287c$/m);
    assert.match(out, /^cmac40 dfa66747de9ae63030ca32611497c827$/m);
    assert.match(out, /^cmac64 51f0bebf7e3b9d92fc49741779363cfe$/m);
  });

  test('its frames are accepted by the gateway; a corrupted one is rejected', { skip }, async () => {
    const frames = [...run(KEY, 'c0de0001', '41', '3', '03670110', '3').matchAll(/^frame ([0-9a-f]+)$/gm)].map((m) => Buffer.from(m[1] as string, 'hex'));
    assert.equal(frames.length, 3);
    const bad = Buffer.from(frames[2] as Buffer);
    bad[10] = (bad[10] as number) ^ 0x40;
    sim.emulator.rx({ payload: bad });
    for (const f of frames) sim.emulator.rx({ payload: f });
    await until(() => g.got.filter((m) => m.topic === 'lora/c0de0001/up').length === 3, 'three frames from the C encoder');
    const bodies = g.got.filter((m) => m.topic === 'lora/c0de0001/up').map((m) => m.body);
    assert.deepEqual(bodies.map((b) => b.counter), [41, 42, 43]);
    assert.deepEqual(bodies[0]?.decoded, { temperature_3: 27.2 });
    assert.equal(g.metric('lora0/frames/dropped/bad_mic'), 1);
  });
});
