import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingTool } from '../../gateway/test/tools.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// Bring-up from a module that is not on the network by itself (modems.md §3.2, §7): the radio
// off at power-on (AT+CFUN? 0) is switched on with AT+CFUN=1; a module registered but detached
// (AT+CGATT? 0) is asked to attach with AT+CGATT=1. Either way the socket opens and datagrams flow.

const skip = missingTool('socat', 'socat');

const CASES = [
  { label: 'a BC95 with its radio off at power-on', type: 'bc95', opts: { cfun: 0 }, command: 'AT+CFUN=1' },
  { label: 'a BG96 with its radio off at power-on', type: 'bg96', opts: { cfun: 0 }, command: 'AT+CFUN=1' },
  { label: 'a BC95 registered but not attached', type: 'bc95', opts: { autoAttach: false }, command: 'AT+CGATT=1' },
  { label: 'a BG96 registered but not attached', type: 'bg96', opts: { autoAttach: false }, command: 'AT+CGATT=1' },
] as const;

for (const c of CASES) {
  describe(`nbiot bring-up: ${c.label}`, { skip }, () => {
    let sim: NbiotModuleSim;
    let g: ModemTestGateway;
    const up = () => g.got.filter((m) => m.topic === 'nbiot/nb0/10.64.2.7/up');

    before(async () => {
      sim = await NbiotModuleSim.start(c.type, { ...c.opts, seed: 5 });
      g = await startModemGateway([{ name: 'nb0', type: c.type, path: sim.path, nbiot: { listen_port: 5684, protocol: 'raw', attach_retry: { min: '50ms', max: '200ms' } }, health_interval: '300ms' }], ['nbiot/#']);
    });
    after(async () => {
      await g?.stop();
      await sim?.stop();
    });

    test(`the adapter sends ${c.command}, then opens the socket and datagrams flow`, async () => {
      // Without the command the module never gets an address: this wait would time out.
      await waitReady(g, 'nb0', `modem nb0 ready (${c.command} sent)`);
      const cmds = sim.emulator.commands;
      const sentAt = cmds.indexOf(c.command);
      assert.ok(sentAt >= 0, `${c.command} sent (commands: ${cmds.join(' ')})`);
      const openAt = cmds.findIndex((l) => /^AT\+(NSOCR|QIOPEN)/.test(l));
      assert.ok(openAt > sentAt, 'the socket was opened after it');
      assert.equal(cmds.filter((l) => l === c.command).length, 1, 'sent once');
      assert.equal(sim.emulator.radio, 1);
      assert.equal(sim.emulator.attached, true);
      assert.deepEqual(sim.emulator.openPorts, [5684]);
      sim.emulator.deliver({ address: '10.64.2.7', port: 40000, payload: Buffer.from('b1c0', 'hex') });
      await until(() => up().some((m) => m.body.payload === 'b1c0'), 'datagram published');
      assert.equal(sim.emulator.lost, 0);
      const status = () => g.got.filter((m) => m.topic === 'nbiot/nb0/status').at(-1)?.body;
      await until(() => status()?.ready === true && status()?.attached === true && status()?.address === '10.64.0.1', 'status: ready, attached, with its address');
    });
  });
}
