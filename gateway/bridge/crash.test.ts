import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt from 'mqtt';
import { tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { CloudSubscriber } from './test/cloud.ts';
import { freePort, Mosquitto, MOSQUITTO } from './test/mosquitto.ts';

// kill -9 of a real gateway process, once while messages flow to a live cloud and once while the
// cloud is down: every message the gateway acknowledged (PUBACK) must reach the cloud afterwards.

const skip = missingTool(MOSQUITTO, 'mosquitto');
const ROOT = join(import.meta.dirname, '..', '..');

const running = new Set<ChildProcess>();
// If the runner itself is stopped mid-test, leave no gateway behind.
process.on('exit', () => {
  for (const c of running) c.kill('SIGKILL');
});

function startChild(config: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/cli/main.ts', 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', process.env.FIELDGATE_TEST_LOG ? 'inherit' : 'ignore', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  child.stderr!.on('data', (d: Buffer) => {
    if (process.env.FIELDGATE_TEST_LOG) process.stderr.write(d);
  });
  return child;
}

async function killHard(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

/**
 * Publishes QoS 1 messages "dev/{i%4}:{i}" with 32 in flight until the connection dies or `stop`
 * is called; returns the payloads whose PUBACK arrived.
 */
function publishUntilKilled(url: string, from: number, acked: Set<string>, onAck: () => void): Promise<void> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, clientId: `pub-${from}` });
  c.on('error', () => {});
  return new Promise((resolve) => {
    let i = from;
    let closed = false;
    c.on('close', () => {
      closed = true;
      resolve();
    });
    const one = () => {
      if (closed) return;
      const payload = `dev/${i % 4}:${i}`;
      const topic = `dev/${i % 4}`;
      i++;
      c.publish(topic, payload, { qos: 1 }, (err) => {
        if (err || closed) return;
        acked.add(payload);
        onAck();
        one();
      });
    };
    c.on('connect', () => {
      for (let k = 0; k < 32; k++) one();
    });
  });
}

describe('bridge survives kill -9', { skip }, () => {
  let tmp: { path: string; remove(): void };
  before(() => {
    tmp = tempDir('fieldgate-crash-');
  });
  after(() => tmp.remove());

  it('every acknowledged message arrives after kill -9 while flowing and while the cloud is down', async () => {
    const cloud = await Mosquitto.create(tmp.path, { persistence: true });
    await cloud.start();
    await (await CloudSubscriber.persistent(cloud.url, 'crash-sub', 'fieldgate/+/dev/#')).end();

    const port = await freePort();
    const config = join(tmp.path, 'fieldgate.yaml');
    writeFileSync(
      config,
      [
        'gateway:',
        `  data_dir: ${join(tmp.path, 'data')}`,
        'http:',
        '  enabled: false',
        'log:',
        '  level: warn',
        '  format: json',
        'broker:',
        '  listeners:',
        '    tcp:',
        '      host: 127.0.0.1',
        `      port: ${port}`,
        'bridge:',
        '  upstreams:',
        '    - name: cloud',
        `      servers: ["${cloud.url}"]`,
        '      backoff: { initial: 50ms, max: 200ms }',
        '',
      ].join('\n'),
    );
    const url = `mqtt://127.0.0.1:${port}`;
    const acked = new Set<string>();
    const children: ChildProcess[] = [];
    try {
      const waitUp = async () => {
        await until(async () => {
          const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 500 });
          c.on('error', () => {});
          const ok = await new Promise<boolean>((r) => {
            c.once('connect', () => r(true));
            c.once('close', () => r(false));
          });
          c.end(true);
          return ok;
        }, 'gateway listening', 20_000);
      };

      // 1. Cloud up, messages flowing: kill -9 mid-stream.
      let child = startChild(config);
      children.push(child);
      await waitUp();
      let n = 0;
      const phase1 = publishUntilKilled(url, 0, acked, () => {
        if (++n === 400) void killHard(child);
      });
      await phase1;
      await killHard(child);
      assert.ok(acked.size >= 400);

      // 2. Cloud down, messages queueing: kill -9 mid-stream.
      await cloud.stop();
      child = startChild(config);
      children.push(child);
      await waitUp();
      n = 0;
      await publishUntilKilled(url, 100_000, acked, () => {
        if (++n === 400) void killHard(child);
      });
      await killHard(child);

      // 3. Restart both; everything acknowledged must arrive.
      child = startChild(config);
      children.push(child);
      await waitUp();
      await cloud.start();
      const sub = await CloudSubscriber.persistent(cloud.url, 'crash-sub');
      try {
        await until(() => [...acked].every((p) => sub.got.some((g) => g.payload === p)), `all ${acked.size} acknowledged messages at the cloud`, 30_000).catch((err) => {
          const missing = [...acked].filter((p) => !sub.got.some((g) => g.payload === p));
          throw new Error(`${(err as Error).message}: ${missing.length} missing, e.g. ${missing.slice(0, 5).join(', ')}`);
        });
        // Order per topic of first arrivals (a crash may resend a few already delivered: at least once).
        const seen = new Set<string>();
        const last = new Map<string, number>();
        for (const g of sub.got) {
          if (seen.has(g.payload)) continue;
          seen.add(g.payload);
          const [topic, idx] = g.payload.split(':');
          assert.ok(Number(idx) > (last.get(topic!) ?? -1), `order on ${topic}: ${idx} after ${last.get(topic!)}`);
          last.set(topic!, Number(idx));
        }
      } finally {
        await sub.end();
      }
    } finally {
      for (const c of children) await killHard(c);
      await cloud.stop();
    }
  });
});
