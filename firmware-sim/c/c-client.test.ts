import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, endClient, tempDir, until } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { startTcpGateway, type TcpTestGateway } from '../../adapters/tcp/test-kit.ts';

// Compiles the portable C client with the system compiler and runs its demo against a real gateway,
// so the C code firmware authors copy is known to speak the protocol, v1 and v2.

const here = dirname(fileURLToPath(import.meta.url));
const SOURCES = ['fgtcp.c', 'demo.c'].map((f) => join(here, f));

describe('portable C client (firmware-sim/c)', () => {
  const skip = missingTool('cc', 'gcc');
  let g: TcpTestGateway;
  let mq: MqttClient;
  let bin = '';
  const dir = tempDir('fieldgate-c-');

  before(async () => {
    if (skip) return;
    bin = join(dir.path, 'fgtcp-demo');
    const cc = spawnSync('cc', ['-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', '-O2', '-o', bin, ...SOURCES], { encoding: 'utf8' });
    assert.equal(cc.status, 0, `cc failed:\n${cc.stderr}`);
    g = await startTcpGateway();
    mq = await connect(g.url);
    await mq.subscribeAsync('tcp/+/up', { qos: 1 });
  });
  after(async () => {
    if (mq) await endClient(mq);
    if (g) await g.stop();
    dir.remove();
  });

  test('uses no dynamic allocation', { skip }, () => {
    for (const f of ['fgtcp.c', 'fgtcp.h']) {
      const src = readFileSync(join(here, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '');
      assert.doesNotMatch(src, /\b(malloc|calloc|realloc|free)\s*\(/, f);
    }
  });

  test('without WAIT_SECONDS the demo publishes once and exits 0 (no downlink is not an error)', { skip }, async () => {
    const ups: string[] = [];
    const onMsg = (topic: string, payload: Buffer) => {
      if (topic === 'tcp/c-dev-nowait/up') ups.push(payload.toString());
    };
    mq.on('message', onMsg);
    try {
      // Asynchronously: the gateway runs in this process and must keep answering.
      const child = spawn(bin, ['127.0.0.1', String(g.tcpPort), 'c-dev-nowait', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b) => (out += b));
      child.stderr.on('data', (b) => (out += b));
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(code, 0, out);
      assert.match(out, /^published 0$/m);
      assert.doesNotMatch(out, /downlink|echoed/);
      await until(() => ups.includes('hello from c v2'), 'the hello from the no-wait demo');
    } finally {
      mq.off('message', onMsg);
    }
  });

  for (const version of [1, 2]) {
    test(`v${version}: connect, publish, receive a downlink, echo it, disconnect`, { skip }, async () => {
      const clientid = `c-dev-${version}`;
      const ups: string[] = [];
      const onMsg = (topic: string, payload: Buffer) => {
        if (topic === `tcp/${clientid}/up`) ups.push(payload.toString());
      };
      mq.on('message', onMsg);
      const child = spawn(bin, ['127.0.0.1', String(g.tcpPort), clientid, String(version), '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (b) => (out += b));
      child.stderr.on('data', (b) => (out += b));
      const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
      try {
        await until(() => ups.includes(`hello from c v${version}`), `hello from the C client (output so far: ${out})`);
        await mq.publishAsync(`tcp/${clientid}/dn`, 'from-cloud', { qos: version === 2 ? 1 : 0 });
        await until(() => ups.includes('echo:from-cloud'), `echo from the C client (output so far: ${out})`);
        assert.equal(await exited, 0, out);
        assert.match(out, /^connack 0$/m);
        assert.match(out, /^published 0$/m);
        assert.match(out, new RegExp(`^downlink qos=${version === 2 ? 1 : 0} dup=0 from-cloud$`, 'm'));
        assert.match(out, /^echoed 0$/m);
        assert.deepEqual(ups, [`hello from c v${version}`, 'echo:from-cloud']);
        await until(() => g.metric('closed/normal') >= version, 'DISCONNECT seen as normal');
      } finally {
        mq.off('message', onMsg);
        child.kill();
      }
    });
  }
});
