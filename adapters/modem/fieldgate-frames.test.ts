import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { missingTool } from '../../gateway/test/tools.ts';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// fieldgate frames end to end: node frames built by the simulator's own encoder (not the adapter's),
// heard by the emulated RAK3172, checked, decoded and published; and the duty cycle on downlinks.

const skip = missingTool('socat', 'socat');
const KEY_A = Buffer.from('2b7e151628aed2a6abf7158809cf4f3c', 'hex');
const KEY_B = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');

describe('fieldgate frames and duty cycle (RAK3172 emulator on a pty)', { skip }, () => {
  let sim: LoraModuleSim;
  let g: ModemTestGateway;
  const dir = mkdtempSync(join(tmpdir(), 'fg-lora-'));

  const up = (node: string) => g.got.filter((m) => m.topic === `lora/${node}/up`);

  before(async () => {
    const script = join(dir, 'tank.js');
    writeFileSync(script, 'function decodeUplink(input) { if (input.fPort === 9) for (;;) {} if (input.fPort === 8) throw new Error("port 8 not supported"); return { data: { level_cm: (input.bytes[0] << 8) | input.bytes[1] } }; }');
    sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
    g = await startModemGateway([
      {
        name: 'lora0',
        type: 'rak3172',
        path: sim.path,
        frames: 'fieldgate',
        counters_file: join(dir, 'counters.json'),
        lora: { frequency: 868_100_000, sf: 12 },
        duty_cycle: { max_wait: '0s' },
        nodes: [
          { id: '0000002a', key: KEY_A.toString('hex'), decoder: 'lpp' },
          { id: 'cafe0001', key: KEY_B.toString('hex'), decoder: { script, timeout: '200ms' } },
        ],
      },
    ]);
    await waitReady(g, 'lora0');
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a valid frame is published on lora/{nodeId}/up with counter, port and the LPP decoding', async () => {
    sim.emulator.rx({ payload: nodeFrame(KEY_A, 0x2a, 1, 3, Buffer.from('03670110', 'hex')), rssi: -80, snr: 4 });
    await until(() => up('0000002a').length === 1, 'node frame');
    const b = up('0000002a')[0]?.body;
    assert.deepEqual({ ...b, ts: 0 }, { payload: '03670110', rssi: -80, snr: 4, ts: 0, modem: 'lora0', node: '0000002a', counter: 1, port: 3, decoded: { temperature_3: 27.2 } });
  });

  test('wrong MIC, replayed and duplicate counters, unknown node, garbage: dropped and counted', async () => {
    const m = (n: string) => g.metric(`lora0/frames/dropped/${n}`);
    sim.emulator.rx({ payload: nodeFrame(KEY_B, 0x2a, 2, 3, Buffer.from('03670111', 'hex')) }); // node 2a signed with another key
    sim.emulator.rx({ payload: nodeFrame(KEY_A, 0x2a, 1, 3, Buffer.from('03670110', 'hex')) }); // counter 1 again
    sim.emulator.rx({ payload: nodeFrame(KEY_A, 0x2b, 1, 3, Buffer.from('00', 'hex')) }); // not configured
    sim.emulator.rx({ payload: Buffer.from('48656c6c6f', 'hex') }); // not a fieldgate frame
    sim.emulator.rx({ payload: nodeFrame(KEY_A, 0x2a, 5, 3, Buffer.from('03670112', 'hex')) });
    sim.emulator.rx({ payload: nodeFrame(KEY_A, 0x2a, 4, 3, Buffer.from('03670113', 'hex')) }); // older than 5: replay
    await until(() => m('bad_mic') === 1 && m('duplicate') === 1 && m('unknown_node') === 1 && m('malformed') === 1 && m('replay') === 1, 'drops counted');
    await until(() => up('0000002a').length === 2, 'the fresh frame');
    assert.equal(up('0000002a')[1]?.body.counter, 5);
    assert.equal(up('0000002b').length, 0);
    assert.ok(g.logs.some((l) => /dropped a frame: frame from node 0000002a has a wrong MIC/.test(l.msg)));
    assert.ok(g.logs.some((l) => /node 0000002a frame counter 4 is not above the last accepted 5/.test(l.msg)));
  });

  test('a user decoder: result; a throwing or looping decoder publishes the raw frame with an error field', async () => {
    sim.emulator.rx({ payload: nodeFrame(KEY_B, 0xcafe0001, 1, 1, Buffer.from('012c', 'hex')) });
    sim.emulator.rx({ payload: nodeFrame(KEY_B, 0xcafe0001, 2, 9, Buffer.from('0000', 'hex')) });
    sim.emulator.rx({ payload: nodeFrame(KEY_B, 0xcafe0001, 3, 8, Buffer.from('0000', 'hex')) });
    sim.emulator.rx({ payload: nodeFrame(KEY_B, 0xcafe0001, 4, 1, Buffer.from('0064', 'hex')) });
    await until(() => up('cafe0001').length === 4, 'four frames, in order');
    const bodies = up('cafe0001').map((x) => x.body);
    assert.deepEqual(bodies.map((b) => b.counter), [1, 2, 3, 4]);
    assert.deepEqual(bodies[0]?.decoded, { level_cm: 300 });
    assert.match(String(bodies[1]?.error), /timed out after 200 ms/);
    assert.equal(bodies[1]?.payload, '0000');
    assert.match(String(bodies[2]?.error), /port 8 not supported/);
    assert.deepEqual(bodies[3]?.decoded, { level_cm: 100 }, 'a fresh worker after the loop');
    assert.equal(g.metric('lora0/frames/decode_errors'), 2);
  });

  test('duty cycle: SF12 255-byte downlinks, three fit 1 % of an hour (36 s), the fourth is refused with the reason', async () => {
    const big = 'ab'.repeat(255);
    for (let i = 1; i <= 4; i++) await g.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: big, id: i }), { qos: 1 });
    const status = () => g.got.filter((m) => m.topic === 'lora/lora0/dn/status');
    await until(() => status().length === 4, 'four statuses');
    const byId = new Map(status().map((s) => [s.body.id, s.body]));
    for (const i of [1, 2, 3]) assert.equal(byId.get(i)?.status, 'sent', `downlink ${i}`);
    assert.equal(byId.get(4)?.status, 'refused');
    assert.equal(byId.get(4)?.cause, 'duty_cycle');
    assert.match(String(byId.get(4)?.reason), /duty cycle: sub-band g1 \(868\.0-868\.6 MHz, 1 %\) has used 27058 of 36000 ms/);
    assert.equal(sim.emulator.transmitted.length, 3);
    assert.equal(g.metric('lora0/downlinks/refused/duty_cycle'), 1);
    assert.equal(g.metric('lora0/duty_cycle/used_seconds'), 27.058);
    assert.equal(g.metric('lora0/duty_cycle/budget_seconds'), 36);
  });
});
