import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { nbiot as doctorNbiot } from '../../gateway/doctor/nbiot.ts';
import type { GatewayConfig } from '../../gateway/app/config.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// nbiot.protocol raw through each NB-IoT module emulator on a socat pty: datagrams published,
// downlinks sent back, the per-datagram limit, and the socket coming back after every way it goes.

const skip = missingTool('socat', 'socat');

const VARIANTS = [
  { label: 'BC95 (AT+NSONMI=2: data in the URC)', type: 'bc95', opts: {} },
  { label: 'BC95 older firmware (+NSONMI:<id>,<len> then AT+NSORF)', type: 'bc95', opts: { nsonmi2: false } },
  { label: 'BG96 (+QIURC "recv", AT+QIRD raw bytes, AT+QISEND prompt)', type: 'bg96', opts: {} },
] as const;

for (const v of VARIANTS) {
  describe(`nbiot raw through a ${v.label}`, { skip }, () => {
    let sim: NbiotModuleSim;
    let g: ModemTestGateway;
    let n = 0;
    const up = () => g.got.filter((m) => m.topic.startsWith('nbiot/nb0/') && m.topic.endsWith('/up'));
    const lines = (re: RegExp) => g.logs.filter((l) => re.test(l.msg));
    /** A device sends a fresh datagram; resolves once it was published. */
    async function heard(label: string, address = '10.64.2.7', port = 40000): Promise<void> {
      const hex = (++n).toString(16).padStart(4, '0') + Buffer.from(label).toString('hex');
      sim.emulator.deliver({ address, port, payload: Buffer.from(hex, 'hex') });
      await until(() => up().some((m) => m.body.payload === hex), `datagram "${label}" published`);
    }

    before(async () => {
      sim = await NbiotModuleSim.start(v.type, { ...v.opts, seed: 3, coverage: false });
      g = await startModemGateway([{ name: 'nb0', type: v.type, path: sim.path, nbiot: { listen_port: 5684, protocol: 'raw', attach_retry: { min: '50ms', max: '200ms' } }, health_interval: '300ms' }], ['nbiot/#']);
    });
    after(async () => {
      await g?.stop();
      await sim?.stop();
    });

    test('not registered: the adapter waits with one log line, then opens the socket once the network takes the module', async () => {
      await until(() => lines(/not registered \(AT\+CEREG stat 2: searching\)/).length === 1, 'the waiting line');
      assert.equal(g.metric('nb0/ready'), 0);
      assert.deepEqual(sim.emulator.openPorts, []);
      sim.emulator.regainCoverage();
      await waitReady(g, 'nb0');
      assert.deepEqual(sim.emulator.openPorts, [5684]);
      assert.equal(lines(/not registered/).length, 1, 'one line for the whole wait');
      assert.equal(lines(/^modem nb0: on the network after [\d.]+ s; ready: /).length, 1);
      assert.ok(sim.emulator.commands.includes('ATE0') && sim.emulator.commands.includes('AT+CMEE=1'));
    });

    test('a datagram is published on nbiot/{modem}/{address}/up as JSON', async () => {
      sim.emulator.deliver({ address: '10.64.2.9', port: 5683, payload: Buffer.from('01ff00a5', 'hex') });
      await until(() => up().some((m) => m.body.payload === '01ff00a5'), 'datagram');
      const m = up().find((x) => x.body.payload === '01ff00a5');
      assert.equal(m?.topic, 'nbiot/nb0/10.64.2.9/up');
      assert.equal(m?.body.address, '10.64.2.9');
      assert.equal(m?.body.port, 5683);
      assert.equal(typeof m?.body.ts, 'number');
      // Several at once, split output: none lost, order kept.
      sim.emulator.fault({ split: true });
      for (let i = 0; i < 5; i++) sim.emulator.deliver({ address: '10.64.2.10', port: 6000, payload: Buffer.from([0xb0, i]) });
      await until(() => up().filter((x) => x.body.address === '10.64.2.10').length === 5, 'five datagrams');
      assert.deepEqual(up().filter((x) => x.body.address === '10.64.2.10').map((x) => x.body.payload), ['b000', 'b001', 'b002', 'b003', 'b004']);
      sim.emulator.clearFaults();
      // The metric is read at once; the status message still travels through the broker to `mq`.
      const latest = () => g.got.filter((x) => x.topic === 'nbiot/nb0/status').at(-1)?.body;
      // Wait for a status message with everything asserted below: a health read straddling
      // regainCoverage() in the first test can publish {registered: false, csq: 23}.
      const complete = (s: Record<string, unknown> | undefined) => s?.csq === 23 && s.registered === true && typeof s.operator === 'string' && s.address === '10.64.0.1';
      await until(() => g.metric('nb0/signal/csq') === 23 && complete(latest()), 'signal read and a complete status message received');
      const status = latest();
      assert.equal(status?.registered, true);
      assert.equal(typeof status?.operator, 'string');
      assert.equal(status?.address, '10.64.0.1');
      // fieldgate doctor (another process) shows the same from the snapshot in the data directory.
      const doctorSays = async () => doctorNbiot({ config: g.config as GatewayConfig, devices: [], timeoutMs: 1000, running: { pid: process.pid, what: 'test' } });
      // Snapshots from the wait for the network said "not registered"; the one after ready says ok.
      await until(async () => (await doctorSays())[0]?.status === 'ok', 'doctor sees the module ready');
      const findings = await doctorSays();
      assert.equal(findings.length, 1);
      assert.match(findings[0]?.message ?? '', /^registered \(home\), address 10\.64\.0\.1, operator \S+, signal csq 23 \(-67 dBm\), UDP port 5684 for raw; read \d+ s ago$/);
    });

    test('a downlink on nbiot/{modem}/{address}/dn goes to that device (port given, or the last one heard)', async () => {
      await g.mq.publishAsync('nbiot/nb0/10.64.2.9/dn', JSON.stringify({ payload: 'c0ffee' }), { qos: 1 });
      await until(() => sim.emulator.sent.some((d) => d.payload.toString('hex') === 'c0ffee'), 'downlink sent');
      assert.deepEqual(sim.emulator.sent.find((d) => d.payload.toString('hex') === 'c0ffee'), { address: '10.64.2.9', port: 5683, payload: Buffer.from('c0ffee', 'hex') });
      await g.mq.publishAsync('nbiot/nb0/10.64.3.1/dn', JSON.stringify({ payload: '00', port: 7000 }), { qos: 1 });
      await until(() => sim.emulator.sent.some((d) => d.address === '10.64.3.1' && d.port === 7000), 'downlink with port');
      await until(() => g.metric('nb0/datagrams/sent') === 2, 'two counted');
    });

    test('a datagram notice between a command and its final result is handled, and the command completes', async () => {
      // Counted from here: a health read in an earlier test may have timed out on a loaded machine.
      const timeoutsBefore = g.metric('nb0/at/timeouts');
      sim.emulator.fault({ urcBeforeFinal: true });
      sim.emulator.deliver({ address: '10.64.2.11', port: 5000, payload: Buffer.from('dd01', 'hex') });
      await g.mq.publishAsync('nbiot/nb0/10.64.2.9/dn', JSON.stringify({ payload: 'ee01' }), { qos: 1 });
      await until(() => up().some((m) => m.body.payload === 'dd01'), 'the held-back datagram published');
      await until(() => sim.emulator.sent.some((d) => d.payload.toString('hex') === 'ee01'), 'the downlink sent');
      assert.equal(sim.emulator.faults.urcBeforeFinal, false, 'the notice went out before a final result');
      assert.equal(g.metric('nb0/at/timeouts'), timeoutsBefore, 'the command completed on its own final result, not by timing out');
    });

    test('a datagram over the module limit is refused with one clear log line, and the next one goes', async () => {
      const max = v.type === 'bg96' ? 1460 : 512;
      await g.mq.publishAsync('nbiot/nb0/10.64.2.9/dn', JSON.stringify({ payload: 'ab'.repeat(max + 1) }), { qos: 1 });
      await until(() => g.metric('nb0/datagrams/refused/too_large') === 1, 'refusal counted');
      assert.equal(lines(new RegExp(`datagram of ${max + 1} bytes to 10\\.64\\.2\\.9:5683 refused: a ${v.type} takes at most ${max} bytes per datagram`)).length, 1);
      await g.mq.publishAsync('nbiot/nb0/10.64.2.9/dn', JSON.stringify({ payload: 'ab'.repeat(max) }), { qos: 1 });
      await until(() => sim.emulator.sent.some((d) => d.payload.length === max), 'the largest datagram sent');
    });

    test('a datagram of the largest size the module takes is received whole (a BC95 prints it as one line of 1000+ characters)', async () => {
      const max = v.type === 'bg96' ? 1460 : 512;
      const big = Buffer.from(Array.from({ length: max }, (_, i) => (i * 13) & 0xff));
      sim.emulator.deliver({ address: '10.64.2.12', port: 40010, payload: big });
      await until(() => up().some((m) => m.body.payload === big.toString('hex')), 'the largest datagram');
      assert.equal(g.metric('nb0/datagrams/malformed'), 0);
    });

    test('the network closes the socket: it is opened again and datagrams flow', async () => {
      const reopens = g.metric('nb0/socket/reopens');
      sim.emulator.closeSocket();
      await until(() => g.metric('nb0/socket/reopens') === reopens + 1, 'reopen counted');
      await waitReady(g, 'nb0');
      await until(() => sim.emulator.openPorts.length === 1, 'socket open again');
      await heard('after close');
    });

    test('the module reboots on its own: set up again, socket reopened', async () => {
      sim.emulator.reboot();
      await until(() => g.metric('nb0/reboots') === 1, 'reboot noticed');
      await until(() => sim.emulator.openPorts.length === 1 && g.metric('nb0/ready') === 1, 'socket reopened after reboot');
      await heard('after reboot');
    });

    test('+CME ERROR while opening the socket: retried with backoff, then open', async () => {
      sim.emulator.cmeError(4, 2, v.type === 'bc95' ? /^AT\+NSOCR/ : /^AT\+QIOPEN/);
      sim.emulator.closeSocket();
      await until(() => sim.emulator.openPorts.length === 1 && g.metric('nb0/ready') === 1, 'socket open after the errors');
      await heard('after cme errors');
    });

    test('coverage lost: registration loss noticed by the health check, socket reopened when back', async () => {
      sim.emulator.loseCoverage();
      await until(() => g.metric('nb0/ready') === 0, 'not ready without the network');
      const doctorSays = async () => (await doctorNbiot({ config: g.config as GatewayConfig, devices: [], timeoutMs: 1000, running: { pid: process.pid, what: 'test' } }))[0];
      await until(async () => /^(searching|not searching)/.test((await doctorSays())?.message ?? ''), 'doctor says the module is not registered');
      assert.equal((await doctorSays())?.status, 'warn');
      sim.emulator.regainCoverage();
      await waitReady(g, 'nb0');
      await until(() => sim.emulator.openPorts.length === 1, 'socket open');
      await heard('after coverage');
    });
  });
}
