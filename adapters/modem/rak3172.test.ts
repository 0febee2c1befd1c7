import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingTool } from '../../gateway/test/tools.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import type { Rak3172Emulator } from '../../firmware-sim/modem/rak3172.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// The adapter against the RAK3172 (RUI3) emulator over a real socat pty: bring-up, receive,
// downlink, and every fault the emulator can inject, each followed by a frame that must arrive.

const skip = missingTool('socat', 'socat');

describe('modem adapter with a RAK3172 (RUI3) on a pty', { skip }, () => {
  let sim: LoraModuleSim;
  let rak: Rak3172Emulator;
  let g: ModemTestGateway;
  let n = 0;

  /** A node transmits a fresh payload; resolves when it was published on lora/lora0/up. */
  function send(label: string): () => Promise<void> {
    const hex = (++n).toString(16).padStart(4, '0') + Buffer.from(label).toString('hex');
    rak.rx({ payload: Buffer.from(hex, 'hex'), rssi: -70 - (n % 20), snr: 5 });
    return () => until(() => g.got.some((m) => m.topic === 'lora/lora0/up' && m.body.payload === hex), `frame "${label}" published`);
  }
  const heard = (label: string) => send(label)();

  const lines = (re: RegExp) => g.logs.filter((l) => re.test(l.msg));

  before(async () => {
    sim = await LoraModuleSim.start('rak3172', { nwm: 1, echo: true, airtimeScale: 0.01, seed: 7 });
    rak = sim.emulator as Rak3172Emulator;
    g = await startModemGateway([{ name: 'lora0', type: 'rak3172', path: sim.path, lora: { frequency: 868_300_000, sf: 9, bw: 125, cr: 1, preamble: 10, power: 12 } }]);
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
  });

  test('bring-up: echo off, LoRaWAN -> P2P (reboot banner), radio from config, continuous receive', async () => {
    await waitReady(g, 'lora0');
    assert.deepEqual(rak.mode, { nwm: 0, rx: 65534, p2p: '868300000:9:125:1:10:12' });
    assert.ok(rak.commands.includes('ATE'), 'echo was on, so ATE toggled it off');
    assert.ok(rak.commands.includes('AT+NWM=0'));
    assert.equal(lines(/^modem lora0 ready: rak3172 4\.1\.0/).length, 1);
  });

  test('a received frame is published as JSON with rssi, snr, ts and modem', async () => {
    rak.rx({ payload: Buffer.from('0102a0ff', 'hex'), rssi: -62, snr: 9 });
    await until(() => g.got.some((m) => m.body.payload === '0102a0ff'), 'frame');
    const m = g.got.find((x) => x.body.payload === '0102a0ff');
    assert.equal(m?.topic, 'lora/lora0/up');
    assert.equal(m?.body.rssi, -62);
    assert.equal(m?.body.snr, 9);
    assert.equal(m?.body.modem, 'lora0');
    assert.equal(typeof m?.body.ts, 'number');
  });

  test('downlink: stop receive, send, wait for TXP2P DONE, re-arm; status published', async () => {
    const from = rak.commands.length;
    await g.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: '41434b', id: 'cmd-1' }), { qos: 1 });
    await until(() => g.got.some((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === 'cmd-1'), 'downlink status');
    const st = g.got.find((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === 'cmd-1')?.body;
    assert.equal(st?.status, 'sent');
    assert.ok((st?.airtime_ms as number) > 0);
    assert.deepEqual(rak.commands.slice(from).filter((c) => /PRECV|PSEND/.test(c)), ['AT+PRECV=0', 'AT+PSEND=41434B', 'AT+PRECV=65534']);
    assert.equal(rak.mode.rx, 65534);
    // Raw bytes (not JSON) are sent as they are.
    await g.mq.publishAsync('lora/lora0/dn', Buffer.from([0x00, 0xff]), { qos: 1 });
    await until(() => rak.transmitted.some((b) => b.equals(Buffer.from([0x00, 0xff]))), 'raw downlink on air');
    await until(() => g.metric('lora0/downlinks/sent') === 2, 'two downlinks counted');
    await heard('after downlink');
  });

  test('busy: AT_BUSY_ERROR on PSEND leaves receive again and retries; sent once', async () => {
    const before = rak.transmitted.length;
    rak.fault({ busy: 1 });
    const from = rak.commands.length;
    await g.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: 'beef', id: 'busy' }), { qos: 1 });
    await until(() => g.got.some((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === 'busy'), 'status after busy');
    assert.equal(g.got.find((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === 'busy')?.body.status, 'sent');
    assert.equal(rak.transmitted.length, before + 1);
    assert.deepEqual(rak.commands.slice(from).filter((c) => /PSEND/.test(c)), ['AT+PSEND=BEEF', 'AT+PSEND=BEEF']);
    await heard('after busy');
  });

  // Once PSEND got OK (or might have: the OK was lost) the frame may be on air: it is never sent
  // again, the status says on_air unknown, and receive comes back.
  for (const [fault, label] of [
    [{ dropTxEnd: 1 }, 'TXP2P DONE lost'],
    [{ dropSendFinal: 1 }, 'OK of PSEND lost'],
  ] as const) {
    test(`downlink whose ${label}: failed, on_air unknown, one PSEND, one frame on air, receive re-armed`, async () => {
      await waitReady(g, 'lora0');
      const before = rak.transmitted.length;
      const from = rak.commands.length;
      const id = `lost-${label}`;
      rak.fault(fault);
      await g.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: 'c0ffee', id }), { qos: 1 });
      await until(() => g.got.some((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === id), 'status');
      const st = g.got.find((m) => m.topic === 'lora/lora0/dn/status' && m.body.id === id)?.body;
      assert.equal(st?.status, 'failed');
      assert.equal(st?.on_air, 'unknown');
      await until(() => rak.mode.rx === 65534 && g.metric('lora0/ready') === 1, 'receive re-armed', 15_000);
      await heard(`after ${label}`);
      assert.deepEqual(rak.commands.slice(from).filter((c) => c.startsWith('AT+PSEND')), ['AT+PSEND=C0FFEE']);
      assert.equal(rak.transmitted.length, before + 1);
    });
  }

  test('an invalid downlink is refused with a reason', async () => {
    await g.mq.publishAsync('lora/lora0/dn', JSON.stringify({ payload: 'abc', id: 'bad' }), { qos: 1 });
    await until(() => g.got.some((m) => m.body.id === undefined && m.body.status === 'refused' && m.body.cause === 'invalid'), 'refusal');
    assert.ok(g.metric('lora0/downlinks/refused/invalid') >= 1);
  });

  test('faults: output split at random bytes, garbage before a line, a URC between a command and its OK', async () => {
    rak.fault({ split: true });
    await heard('split');
    rak.garbage(Buffer.from([0x00, 0xff, 0xfe]));
    await heard('after garbage');
    rak.fault({ urcBeforeFinal: true });
    const hex = 'cafe01';
    rak.rx({ payload: Buffer.from(hex, 'hex') });
    // The next command (the liveness probe's AT) carries the frame between its echo and OK.
    await until(() => g.got.some((m) => m.body.payload === hex), 'frame sent between a command and its OK');
    rak.clearFaults();
  });

  test('a receive line whose payload is empty or not whole bytes is counted as malformed, not published', async () => {
    const before = g.metric('lora0/frames/dropped/malformed');
    const published = g.got.length;
    rak.garbage(Buffer.from('+EVT:RXP2P:-70:5:ABC\r\n+EVT:RXP2P:-70:5:\r\n'));
    await until(() => g.metric('lora0/frames/dropped/malformed') === before + 2, 'two malformed');
    await heard('after malformed');
    assert.deepEqual(g.got.slice(published).filter((m) => m.topic === 'lora/lora0/up' && (m.body.payload === 'ab' || m.body.payload === '')), []);
  });

  test('a dropped OK: timeout, recovery by ping and re-init, nothing lost', async () => {
    const rec = g.metric('lora0/recoveries');
    rak.fault({ dropFinal: 1 });
    await until(() => g.metric('lora0/recoveries') > rec, 'recovery started');
    const during = send('during recovery');
    await waitReady(g, 'lora0');
    await during();
    await heard('after dropped OK');
    assert.ok(lines(/^modem lora0: recovered by/).length >= 1);
  });

  test('a reboot banner mid-command: the module is set up again and receives', async () => {
    const reboots = g.metric('lora0/reboots');
    rak.fault({ rebootOnCommand: 1 });
    await until(() => g.metric('lora0/reboots') > reboots, 'reboot noticed');
    const during = send('during re-init');
    await until(() => rak.mode.rx === 65534, 're-armed after the reboot');
    await during();
    await heard('after reboot');
  });

  test('a hang lifted by a soft reset (ATZ): the ladder reaches it', async () => {
    rak.fault({ hang: 'reset' });
    const during = send('during hang');
    const from = rak.commands.length;
    await until(() => rak.commands.slice(from).includes('ATZ'), 'soft reset sent', 15_000);
    await until(() => rak.mode.rx === 65534, 're-armed after the soft reset');
    await waitReady(g, 'lora0');
    await during();
    await heard('after hang');
  });

  test('a total hang: the port is reopened with backoff until the module answers again; one line when trouble starts, one when it ends', async () => {
    const opens = g.metric('lora0/port/opens');
    const from = g.logs.length;
    rak.fault({ hang: 'total' });
    // Several ladder runs, each ending in a reopen of a port that never went away.
    await until(() => g.metric('lora0/port/opens') >= opens + 3, 'port reopened three times', 30_000);
    rak.clearFaults();
    await until(() => rak.mode.rx === 65534 && g.metric('lora0/ready') === 1, 'ready again', 15_000);
    await heard('after total hang');
    const loud = g.logs.slice(from).filter((l) => l.level >= 30 && /^modem lora0/.test(l.msg)).map((l) => l.msg.replace(/ \(.*$|after .*$/, ''));
    assert.deepEqual(loud, ['modem lora0: not answering properly', 'modem lora0: recovered by bring-up ']);
    assert.ok(g.logs.slice(from).filter((l) => l.msg === 'modem: reopening serial port (recovery)').length >= 3, 'the reopens are logged at debug');
  });

  // A real module loses what is transmitted while it is unplugged: a frame sent meanwhile arrives
  // only because the emulator models a node that repeats until it is heard (emulator.ts `air`). This
  // shows the adapter receives again after the return; it does not show that nothing is lost.
  test('the port vanishes and returns: one warn line, one info line, receiving again (a frame the node repeats until heard arrives)', async () => {
    const warnBefore = lines(/serial port .* unavailable/).length;
    const backBefore = lines(/serial port .* is back after/).length;
    await sim.vanish();
    await until(() => g.metric('lora0/port/open') === 0, 'port noticed gone');
    const hex = 'dead01';
    rak.rx({ payload: Buffer.from(hex, 'hex') });
    // Several reopen attempts fail meanwhile; none of them logs at warn or info.
    await until(() => g.logs.filter((l) => l.msg === 'modem: reopen attempt failed').length >= 2, 'reopen attempts');
    await sim.restore();
    await waitReady(g, 'lora0');
    await until(() => g.got.some((m) => m.body.payload === hex), 'frame from while the port was gone');
    assert.equal(lines(/serial port .* unavailable/).length, warnBefore + 1);
    assert.equal(lines(/serial port .* is back after/).length, backBefore + 1);
    assert.ok(g.metric('lora0/port/vanished') >= 1);
    await heard('after vanish');
  });
});
