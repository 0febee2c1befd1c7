import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { missingTool } from '../gateway/test/tools.ts';
import { generator, idleClients, runLoadgen, type Generator } from './loadgen.ts';
import { startMosquitto } from './servers.ts';

// A smoke test of the bench's load generators (not a benchmark: no figure is checked, only that
// each mode moves every message and reports): one 1-second round of each mode against Mosquitto.

const noHeader = existsSync('/usr/include/mosquitto.h')
  ? undefined
  : process.env.FIELDGATE_REQUIRE_TOOLS === '1'
    ? assert.fail('<mosquitto.h> not found: apt-get install libmosquitto-dev (FIELDGATE_REQUIRE_TOOLS=1 forbids skipping)')
    : '<mosquitto.h> not found: install it with "apt-get install libmosquitto-dev" to run this test';
const noMosquitto = missingTool('mosquitto', 'mosquitto');

async function exercise(gen: Generator): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-loadgen-'));
  const m = await startMosquitto(dir, 'mosquitto', []);
  try {
    const port = String(m.port);
    const r = await runLoadgen(['rate', '-p', port, '-n', '2', '-r', '200', '-d', '1', '-q', '1'], { gen });
    assert.equal(r.mode, 'rate');
    assert.equal(r.sent, 200);
    assert.equal(r.acked, 200);
    assert.equal(r.received, 200);
    assert.equal(r.lost, 0);
    assert.ok(Number(r.puback_p50_us) > 0 && Number(r.puback_p99_us) >= Number(r.puback_p50_us));
    assert.ok(Number(r.e2e_p50_us) > 0);
    const p = await runLoadgen(['pubsub', '-p', port, '-n', '2', '-w', '8', '-q', '1', '-c', '2000'], { gen });
    assert.equal(p.received, 2000);
    assert.equal(p.lost, 0);
    assert.ok(Number(p.recv_per_sec) > 0);
    const idle = await idleClients(m.port, 50, gen);
    await idle.stop();
  } finally {
    await m.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the C load generator builds and its three modes move every message', { skip: noHeader ?? noMosquitto ?? missingTool('cc', 'gcc') }, async () => {
  const gen = await generator();
  assert.equal(gen.kind, 'c-libmosquitto');
  await exercise(gen);
});

test('the MQTT.js fallback generator does the same', { skip: noMosquitto }, async () => {
  await exercise(await generator('mqttjs'));
});
