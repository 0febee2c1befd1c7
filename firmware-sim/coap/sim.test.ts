import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { connect, endClient, until } from '../../gateway/test/helpers.ts';
import { startCoap, type CoapGateway } from '../../adapters/coap/test-support.ts';
import { CoapSensorSim, failureSummary } from './sim.ts';

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

describe('CoAP sensor simulator', () => {
  let g: CoapGateway;
  before(async () => {
    g = await startCoap();
  });
  after(async () => g.stop());

  test('N devices publish JSON readings and receive observe downlinks', async () => {
    const mq = await connect(g.url);
    const readings: { topic: string; body: { id: string; seq: number } }[] = [];
    mq.on('message', (topic, payload) => readings.push({ topic, body: JSON.parse(payload.toString()) }));
    await mq.subscribeAsync('sensors/+/telemetry');
    const downlinks: string[] = [];
    const sim = new CoapSensorSim({ host: '127.0.0.1', port: g.coapPort, devices: 5, rate: 20, count: 4, observe: true, onDownlink: (id, p) => downlinks.push(`${id}:${p}`) });
    await sim.start();
    await mq.publishAsync('devices/sensor-3/cmd', 'reboot');
    await until(() => downlinks.length === 1, 'downlink');
    assert.deepEqual(downlinks, ['sensor-3:reboot']);
    await sim.done;
    const s = await sim.stop();
    assert.equal(s.ok, 20);
    assert.equal(s.failed, 0);
    await until(() => readings.length === 20, 'all readings over MQTT');
    assert.deepEqual(new Set(readings.map((r) => r.topic)).size, 5);
    assert.ok(readings.every((r) => r.topic === `sensors/${r.body.id}/telemetry`));
    await until(() => g.metric('observers') === 0, 'observations cancelled on stop');
    await endClient(mq);
  });

  test('npm run sim -- coap: the CLI runs, reports JSON stats, exits 0', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'coap', '--port', String(g.coapPort), '--devices', '3', '--rate', '20', '--count', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0, out);
    const stats = JSON.parse(out.trim().split('\n').pop()!);
    assert.equal(stats.ok, 9);
    const bad = spawn(process.execPath, ['--import', 'tsx', CLI, 'nosuch'], { stdio: 'ignore' });
    assert.equal(await new Promise((r) => bad.on('close', r)), 2);
  });
});

describe('CoAP sensor simulator: each device its own source address', () => {
  let g: CoapGateway;
  before(async () => {
    // A per-address budget of 5 requests: 20 devices x 3 readings fit only as 20 separate hosts.
    g = await startCoap({ limits: { rate: 5, burst: 5 } });
  });
  after(async () => g.stop());

  test('npm run sim -- coap --devices 20 --rate 10: zero failures, 20 source addresses at the gateway', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'coap', '--port', String(g.coapPort), '--devices', '20', '--rate', '10', '--count', '3'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('close', r));
    assert.equal(code, 0, out);
    const stats = JSON.parse(out.trim().split('\n').pop()!);
    assert.deepEqual([stats.ok, stats.failed], [60, 0]);
    assert.equal(g.metric('peers/tracked'), 20, 'one rate-limit bucket per device address');
    assert.equal(g.metric('rate_limited'), 0);
  });

  test('the same load from one address is rate-limited: the failures are named by code and counted at the gateway', async () => {
    const sim = new CoapSensorSim({ host: '127.0.0.1', port: g.coapPort, devices: 20, rate: 10, count: 3, sourceAddress: () => '127.0.0.1' });
    await sim.start();
    await sim.done;
    const s = await sim.stop();
    assert.ok(s.failed > 0 && s.codes['4.29'] === s.failed, JSON.stringify(s.codes));
    assert.match(failureSummary(s.codes), /^4\.29 x\d+$/);
    assert.ok(g.metric('rate_limited') >= s.failed);
  });
});
