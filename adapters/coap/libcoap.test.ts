// The CoAP adapter against libcoap's coap-client (an independent implementation, and the one the
// docs' command lines use). Skipped with the apt package to install when the tool is missing.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, endClient, until } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { startCoap, type CoapGateway } from './test-support.ts';

const skip = missingTool('coap-client-notls', 'libcoap3-bin');

/** Runs coap-client; resolves with stdout+stderr whatever the exit code (error responses exit non-zero). */
function coapClient(args: string[], timeoutMs = 15_000): Promise<string> {
  return new Promise((resolve) => {
    execFile('coap-client-notls', args, { encoding: 'utf8', timeout: timeoutMs }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
  });
}

/** Starts an observing coap-client for `seconds`; `output()` reads what it printed so far. */
function observe(args: string[]): { output(): string; exited: Promise<void> } {
  const p = spawn('coap-client-notls', args);
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (out += d));
  return { output: () => out, exited: new Promise((r) => p.on('exit', () => r())) };
}

describe('libcoap coap-client', { skip }, () => {
  let g: CoapGateway;
  let mq: MqttClient;
  let dir: string;
  const got: { topic: string; payload: string; qos: number }[] = [];
  const uri = (path: string) => `coap://127.0.0.1:${g.coapPort}${path}`;
  before(async () => {
    g = await startCoap({ blockwise: { max_body_size: 2048 } });
    mq = await connect(g.url);
    mq.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos }));
    await new Promise((r) => mq.subscribe('lc/#', { qos: 1 }, r));
    dir = mkdtempSync(join(tmpdir(), 'fieldgate-coap-'));
  });
  after(async () => {
    await endClient(mq);
    await g.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('CON and NON publish (QoS 1 and 0)', async () => {
    got.length = 0;
    assert.equal(await coapClient(['-m', 'post', '-e', '{"t":21.5}', uri('/ps/lc/con?c=lc1')]), '');
    assert.equal(await coapClient(['-N', '-m', 'post', '-e', 'non', uri('/ps/lc/non?c=lc1')]), '');
    await until(() => got.length === 2, 'two messages');
    assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]).sort(), [['lc/con', '{"t":21.5}', 1], ['lc/non', 'non', 0]]);
  });

  test('error responses: 4.04 unknown path, 4.00 bad topic', async () => {
    assert.match(await coapClient(['-m', 'get', uri('/nope')]), /4\.04/);
    assert.match(await coapClient(['-m', 'post', '-e', 'x', uri('/ps/a/%23?c=lc1')]), /4\.00/);
  });

  test('Block1 upload with a new token per block (-b 64), reassembled exactly; too large gets 4.13', async () => {
    got.length = 0;
    const body = Array.from({ length: 1500 }, (_, i) => String.fromCharCode(33 + (i % 90))).join('');
    writeFileSync(join(dir, 'body'), body);
    assert.equal(await coapClient(['-b', '64', '-m', 'post', '-f', join(dir, 'body'), uri('/ps/lc/big?c=lc1')]), '');
    await until(() => got.length === 1, 'the reassembled message');
    assert.equal(got[0]!.payload, body);
    assert.equal(g.metric('block1/buffered_bytes'), 0);
    writeFileSync(join(dir, 'huge'), 'z'.repeat(3000));
    assert.match(await coapClient(['-b', '64', '-m', 'post', '-f', join(dir, 'huge'), uri('/ps/lc/huge?c=lc1')]), /4\.13/);
    assert.equal(got.length, 1);
  });

  test('observe a wildcard; small and Block2 (large) notifications; deregistration on exit', async () => {
    const o = observe(['-b', '64', '-m', 'get', '-s', '3', uri('/ps/lc/down/%2B?c=lc-obs')]);
    await until(() => g.metric('observers') === 1, 'registration');
    mq.publish('lc/down/a', 'first', { qos: 0 });
    await until(() => o.output().includes('first'), 'first notification');
    const large = 'L'.repeat(300) + 'END';
    mq.publish('lc/down/b', large, { qos: 1 });
    await until(() => o.output().includes(large), 'large notification through Block2');
    await o.exited;
    await until(() => g.metric('observers') === 0, 'deregistered (GET Observe=1) when coap-client ends');
  });

  test('connection mode create returns a token', async () => {
    const out = await coapClient(['-m', 'post', uri('/mqtt/connection?clientid=lc-conn')]);
    assert.match(out.trim(), /^\d+$/);
    assert.match(await coapClient(['-m', 'put', uri(`/mqtt/connection?clientid=lc-conn&token=${out.trim()}`)]), /^$/);
  });
});
