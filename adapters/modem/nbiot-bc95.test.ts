import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { missingTool } from '../../gateway/test/tools.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// A BC28 (1358-byte datagrams) that returns at most 512 bytes per AT+NSORF, older firmware (no
// data in +NSONMI), IPv6 only: datagrams longer than one read come in pieces (remaining_length),
// a read failing halfway does not split a datagram, and IPv6 addresses have one spelling in
// topics whatever the module or the user writes.

const skip = missingTool('socat', 'socat');

describe('BC95 family: partial reads, IPv6, the recovery ladder', { skip }, () => {
  let sim: NbiotModuleSim;
  let g: ModemTestGateway;
  const up = () => g.got.filter((m) => m.topic.startsWith('nbiot/nb0/') && m.topic.endsWith('/up'));
  const bytes = (n: number, seed: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff));
  const reads = () => sim.emulator.commands.filter((c) => c.startsWith('AT+NSORF=')).length;

  before(async () => {
    // 2001:db8::1 in 3GPP TS 27.007's default notation (16 dot-separated bytes, no AT+CGPIAF).
    sim = await NbiotModuleSim.start('bc95', { nsonmi2: false, maxDatagram: 1358, readMax: 512, ip: '', ip6: '32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1', seed: 4 });
    g = await startModemGateway([{ name: 'nb0', type: 'bc95', path: sim.path, nbiot: { listen_port: 5683, protocol: 'raw', max_datagram: 1358 }, health_interval: '300ms' }], ['nbiot/#']);
    await waitReady(g, 'nb0');
  });
  after(async () => {
    await g?.stop();
    await sim?.stop();
  });

  test("the module's IPv6 address is shown in the usual notation", async () => {
    await until(() => g.got.some((m) => m.topic === 'nbiot/nb0/status' && m.body.address === '2001:db8::1'), 'status with the IPv6 address');
  });

  test('a datagram longer than one read is read in pieces and published whole, once', async () => {
    const from = reads();
    const big = bytes(1200, 1);
    sim.emulator.deliver({ address: '10.64.2.7', port: 40000, payload: big });
    await until(() => up().some((m) => m.body.payload === big.toString('hex')), 'the 1200-byte datagram');
    assert.equal(up().length, 1);
    // 512 + 512 + 176, then one that finds nothing.
    await until(() => reads() >= from + 4, 'the empty read');
    assert.equal(reads(), from + 4);
  });

  test('two waiting datagrams, the first in pieces: two messages, neither glued to the other', async () => {
    const n = up().length;
    const from = reads();
    const a = bytes(700, 2);
    const b = Buffer.from('b0b1', 'hex');
    sim.emulator.deliver({ address: '10.64.2.8', port: 40001, payload: a });
    sim.emulator.deliver({ address: '10.64.2.9', port: 40002, payload: b });
    await until(() => up().length === n + 2, 'two datagrams');
    assert.deepEqual(up().slice(n).map((m) => [m.body.address, m.body.port, m.body.payload]), [
      ['10.64.2.8', 40001, a.toString('hex')],
      ['10.64.2.9', 40002, 'b0b1'],
    ]);
    // 512 + 188, 2, then a read that finds nothing (two when the second notice starts a second drain).
    await until(() => reads() >= from + 4, 'the empty read');
  });

  test('a read refused halfway: the datagram is finished by the next read, not published as two', async () => {
    const n = up().length;
    const d = bytes(1000, 3);
    // The second AT+NSORF from now (the one for the rest of d) answers +CME ERROR.
    sim.emulator.cmeError(4, 1, /^AT\+NSORF/, 1);
    const from = reads();
    sim.emulator.deliver({ address: '10.64.2.10', port: 40003, payload: d });
    // A late empty read of the test before may take the skipped read: then d's first read is the
    // refused one. Either way half of d is never published and the next drain finishes it.
    await until(() => !sim.emulator.cmeErrorPending && reads() >= from + 2, 'the first piece read, the second refused');
    assert.equal(up().length, n, 'nothing published from half a datagram');
    // The next datagram's notice drains the module again: the rest of d comes first.
    sim.emulator.deliver({ address: '10.64.2.11', port: 40004, payload: Buffer.from('c0', 'hex') });
    await until(() => up().length === n + 2, 'both datagrams');
    assert.deepEqual(up().slice(n).map((m) => [m.body.address, m.body.payload]), [
      ['10.64.2.10', d.toString('hex')],
      ['10.64.2.11', 'c0'],
    ]);
    assert.equal(g.metric('nb0/datagrams/malformed'), 0);
  });

  test('IPv6 devices: one spelling in topics; a downlink to any spelling of the address reaches it', async () => {
    const big = bytes(600, 5);
    // The module writes the address its own way (upper case, zeros not compressed).
    sim.emulator.deliver({ address: '2001:DB8:0:0:0:0:0:7', port: 5683, payload: big });
    await until(() => up().some((m) => m.topic === 'nbiot/nb0/2001:db8::7/up'), 'published under the compressed address');
    const m = up().find((x) => x.topic === 'nbiot/nb0/2001:db8::7/up');
    assert.deepEqual([m?.body.address, m?.body.port, m?.body.payload], ['2001:db8::7', 5683, big.toString('hex')]);
    // No port given: the one the device was heard from, whatever spelling the topic uses.
    await g.mq.publishAsync('nbiot/nb0/2001:0DB8::0007/dn', JSON.stringify({ payload: 'a1a2' }), { qos: 1 });
    await until(() => sim.emulator.sent.some((d) => d.payload.toString('hex') === 'a1a2'), 'downlink sent');
    assert.deepEqual(sim.emulator.sent.find((d) => d.payload.toString('hex') === 'a1a2'), { address: '2001:db8::7', port: 5683, payload: Buffer.from('a1a2', 'hex') });
  });

  test('a hung module: the recovery ladder pings, resets (AT+NRB) and opens the socket again; one line each way', async () => {
    const from = g.logs.length;
    const cmds = sim.emulator.commands.length;
    sim.emulator.fault({ hang: 'reset' });
    await until(() => sim.emulator.commands.slice(cmds).includes('AT+NRB'), 'soft reset sent', 15_000);
    await until(() => g.metric('nb0/ready') === 1 && sim.emulator.openPorts.length === 1, 'ready again', 15_000);
    // Three pings before the reset.
    assert.ok(sim.emulator.commands.slice(cmds, sim.emulator.commands.indexOf('AT+NRB', cmds)).filter((c) => c === 'AT').length >= 3);
    const loud = g.logs.slice(from).filter((l) => l.level >= 40 || /recovered/.test(l.msg)).map((l) => l.msg.replace(/ \(.*$/, ''));
    assert.deepEqual(loud, ['modem nb0: not answering properly', 'modem nb0: recovered; socket open again']);
    sim.emulator.deliver({ address: '10.64.2.20', port: 40020, payload: Buffer.from('d00d', 'hex') });
    await until(() => up().some((m) => m.body.payload === 'd00d'), 'a datagram after the recovery');
  });
});
