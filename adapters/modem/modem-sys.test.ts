import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, endClient } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { startModemGateway, until, type ModemTestGateway } from './test-kit.ts';

// Modem health under $SYS/brokers/{node}/modems/{name}/..., as an MQTT client subscribed to
// $SYS/brokers/+/modems/# sees it: a BC95 emulator and an RN2483 emulator on socat ptys behind a
// real gateway. Each leaf is retained and published only when its value changes.

const skip = missingTool('socat', 'socat');

interface Seen {
  leaf: string;
  payload: string;
  retain: boolean;
}

describe('modem health in $SYS', { skip }, () => {
  let nb: NbiotModuleSim;
  let lora: LoraModuleSim;
  let g: ModemTestGateway;
  let watcher: MqttClient;
  const seen: Seen[] = [];
  const clients: MqttClient[] = [];
  /** The latest value of a leaf ('' once removed), e.g. now('nb0/state'). */
  const now = (leaf: string) => seen.filter((s) => s.leaf === leaf).at(-1)?.payload;
  const values = (leaf: string) => seen.filter((s) => s.leaf === leaf).map((s) => s.payload);
  const url = () => `mqtt://127.0.0.1:${g.gw.broker.ports.tcp}`;
  const csqReads = () => nb.emulator.commands.filter((c) => c === 'AT+CSQ').length;

  before(async () => {
    nb = await NbiotModuleSim.start('bc95', { seed: 5, coverage: false });
    lora = await LoraModuleSim.start('rn2483', { airtimeScale: 0.01, seed: 5 });
    g = await startModemGateway(
      [
        { name: 'nb0', type: 'bc95', path: nb.path, nbiot: { listen_port: 5683, protocol: 'raw', attach_retry: { min: '50ms', max: '200ms' } }, health_interval: '200ms' },
        { name: 'rn0', type: 'rn2483', path: lora.path },
      ],
      ['nbiot/#'],
    );
    watcher = await connect(url());
    clients.push(watcher);
    watcher.on('message', (topic, payload, packet) => {
      const m = /^\$SYS\/brokers\/[^/]+\/modems\/(.+)$/.exec(topic);
      if (m) seen.push({ leaf: m[1]!, payload: payload.toString(), retain: packet.retain });
    });
    await watcher.subscribeAsync('$SYS/brokers/+/modems/#', { qos: 0 });
  });
  after(async () => {
    for (const c of clients) await endClient(c).catch(() => {});
    await g?.stop();
    await nb?.stop();
    await lora?.stop();
  });

  test('NB-IoT: while not registered, state attaching, registration 2 (searching), socket closed', async () => {
    await until(() => now('nb0/state') === 'attaching' && now('nb0/registration') === '2' && now('nb0/socket') === 'closed', 'attaching leaves');
    assert.equal(now('nb0/type'), 'bc95');
    assert.equal(now('nb0/port'), '5683');
    assert.equal(now('nb0/protocol'), 'raw');
  });

  test('NB-IoT: registered: state, registration, attached, address, operator, signal and socket', async () => {
    nb.emulator.regainCoverage();
    const want = { 'nb0/state': 'ready', 'nb0/registration': '1', 'nb0/attached': 'true', 'nb0/address': '10.64.0.1', 'nb0/operator': '26201', 'nb0/csq': '23', 'nb0/rssi_dbm': '-67', 'nb0/socket': 'open' };
    const current = () => Object.fromEntries(Object.keys(want).map((k) => [k, now(k)]));
    // Leaves arrive one message each: wait for the whole picture, then compare (a failure shows all of it).
    await until(() => JSON.stringify(current()) === JSON.stringify(want), 'ready with a signal read').catch(() => undefined);
    assert.deepEqual(current(), want);
  });

  test('NB-IoT: a leaf is published again only when its value changes', async () => {
    nb.emulator.csq = 10;
    await until(() => now('nb0/csq') === '10' && now('nb0/rssi_dbm') === '-93', 'the new signal');
    // Two more health reads with nothing changed: nothing more published. (Reads run one at a time:
    // once the third AT+CSQ went out, the two before it were handled.)
    const reads = csqReads();
    await until(() => csqReads() >= reads + 3, 'two more health reads');
    assert.deepEqual(values('nb0/csq').slice(-2), ['23', '10']);
    assert.deepEqual(values('nb0/operator'), ['26201']);
    assert.deepEqual(values('nb0/address'), ['10.64.0.1']);
    assert.equal(values('nb0/state').filter((v) => v === 'ready').length, 1, 'ready once');
  });

  test('NB-IoT: coverage lost: not ready, socket closed, address and operator removed; back when registered again', async () => {
    nb.emulator.loseCoverage();
    await until(() => now('nb0/state') === 'attaching' && now('nb0/socket') === 'closed', 'not ready');
    await until(() => now('nb0/operator') === '' && now('nb0/address') === '' && now('nb0/rssi_dbm') === '' && now('nb0/csq') === '99', 'unknowns removed, csq 99');
    assert.notEqual(now('nb0/registration'), '1');
    nb.emulator.regainCoverage();
    await until(() => now('nb0/state') === 'ready' && now('nb0/socket') === 'open' && now('nb0/operator') === '26201', 'ready again');
  });

  test('LoRa: type, state and module version', async () => {
    await until(() => now('rn0/state') === 'ready' && now('rn0/module') !== undefined, 'rn0 ready');
    assert.equal(now('rn0/type'), 'rn2483');
    assert.match(now('rn0/module') ?? '', /^RN2483 1\.0\.5/);
  });

  test('a new subscriber gets the current leaves at once (retained)', async () => {
    const late = await connect(url());
    clients.push(late);
    const got = new Map<string, { payload: string; retain: boolean }>();
    late.on('message', (topic, payload, packet) => got.set(topic.split('/').slice(4).join('/'), { payload: payload.toString(), retain: packet.retain }));
    await late.subscribeAsync('$SYS/brokers/+/modems/+/state', { qos: 0 });
    await until(() => got.has('nb0/state') && got.has('rn0/state'), 'retained states');
    assert.deepEqual(got.get('nb0/state'), { payload: 'ready', retain: true });
    assert.deepEqual(got.get('rn0/state'), { payload: 'ready', retain: true });
  });

  test('the adapter stops (an operator restart): state stopped, other leaves removed, then back', async () => {
    const from = seen.length;
    assert.equal(await g.gw.controls.restartAdapter('modem'), true);
    const since = () => seen.slice(from);
    await until(() => since().some((s) => s.leaf === 'nb0/state' && s.payload === 'stopped') && since().some((s) => s.leaf === 'rn0/state' && s.payload === 'stopped'), 'stopped');
    const stoppedAt = since().findIndex((s) => s.leaf === 'nb0/state' && s.payload === 'stopped');
    const removed = since().slice(0, stoppedAt).filter((s) => s.leaf.startsWith('nb0/') && s.payload === '').map((s) => s.leaf);
    for (const leaf of ['registration', 'attached', 'address', 'operator', 'csq', 'rssi_dbm', 'socket', 'port', 'protocol']) assert.ok(removed.includes(`nb0/${leaf}`), `nb0/${leaf} removed`);
    assert.ok(since().some((s) => s.leaf === 'rn0/module' && s.payload === ''), 'rn0/module removed');
    await until(() => now('nb0/state') === 'ready' && now('nb0/operator') === '26201' && now('rn0/state') === 'ready', 'back after the restart');
  });
});
