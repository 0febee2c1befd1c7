import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { freePort, Mosquitto } from '../../gateway/bridge/test/mosquitto.ts';
import { mqttClient } from '../load.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';

// A long outage: COUNT messages (default 1,000,000; BENCH_BRIDGE_BACKLOG scales it) are published
// QoS 1 into a gateway process while its cloud is down, then Mosquitto comes up and the backlog
// drains. The gateway runs as its own process, from the release bundle when it can be built (what a
// Pi runs) and through tsx otherwise, so its RSS is the gateway's alone: sampled from /proc while
// queueing and while draining, and compared with the same process idle before the outage.

const COUNT = Number(process.env.BENCH_BRIDGE_BACKLOG ?? 1_000_000);
const PUBLISHERS = 4;
const WINDOW = 512;
const PAYLOAD = Buffer.alloc(100, 0x61);
const ROOT = join(import.meta.dirname, '..', '..');

function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
}

async function gatewayCommand(dir: string): Promise<{ argv: string[]; kind: string }> {
  try {
    const { buildRelease } = await import('../../deploy/build.ts');
    const out = join(dir, 'dist');
    await buildRelease({ out, arches: ['x64'], tarballs: false });
    return { argv: [join(out, 'bundle', 'fieldgate.mjs')], kind: 'bundle' };
  } catch (err) {
    process.stderr.write(`bench: bridge-backlog: no release bundle (${(err as Error).message}); running the gateway through tsx\n`);
    return { argv: ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts')], kind: 'tsx' };
  }
}

/** The gateway's bridge metrics, as it publishes them in $SYS. */
function watchMetrics(c: MqttClient): Record<string, number> {
  const values: Record<string, number> = {};
  c.on('message', (topic, payload) => {
    const i = topic.indexOf('/metrics/');
    if (i >= 0) values[topic.slice(i + 9)] = Number(payload.toString());
  });
  return values;
}

async function until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
  const start = Date.now();
  while (!cond()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const scenario: Scenario = {
  name: 'bridge-backlog',
  description: `${COUNT} QoS 1 messages queued in a gateway process during an outage, then drained to Mosquitto; gateway RSS throughout`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-backlog-'));
    const cloudPort = await freePort();
    const port = await freePort();
    const cloud = new Mosquitto(dir, cloudPort);
    const config = join(dir, 'fieldgate.yaml');
    writeFileSync(
      config,
      [
        'gateway:',
        `  data_dir: ${join(dir, 'data')}`,
        'log: { level: warn, format: json }',
        'sys: { interval: 250ms, client_events: false }',
        `broker: { listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }`,
        'auth: { acl_nomatch: allow }',
        'bridge:',
        '  upstreams:',
        `    - { name: cloud, servers: ["mqtt://127.0.0.1:${cloudPort}"], status: false, backoff: { initial: 50ms, max: 100ms } }`,
        '',
      ].join('\n'),
    );
    const cmd = await gatewayCommand(dir);
    const child: ChildProcess = spawn(process.execPath, [...(process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean), ...cmd.argv, 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    let peak = 0;
    const sampler = setInterval(() => {
      if (child.pid && child.exitCode === null) peak = Math.max(peak, rssOf(child.pid));
    }, 100);
    const clients: MqttClient[] = [];
    try {
      const url = `mqtt://127.0.0.1:${port}`;
      const start = Date.now();
      let watcher: MqttClient | undefined;
      while (!watcher) {
        watcher = await mqttClient(url, { clientId: 'bench-watch' }).catch(async () => {
          if (Date.now() - start > 30_000) throw new Error('gateway did not start');
          await new Promise((r) => setTimeout(r, 100));
          return undefined;
        });
      }
      clients.push(watcher);
      const metrics = watchMetrics(watcher);
      await watcher.subscribeAsync('$SYS/brokers/+/metrics/bridge/#');
      await new Promise((r) => setTimeout(r, 1000));
      const idle = rssOf(child.pid!);
      peak = 0;

      const pubs = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => mqttClient(url, { clientId: `bench-pub-${i}` })));
      clients.push(...pubs);
      let next = 0;
      const fillStart = process.hrtime.bigint();
      const worker = async (c: MqttClient) => {
        while (next < COUNT) {
          const i = next++;
          await c.publishAsync(`bench/dev${i % 256}`, PAYLOAD, { qos: 1 });
        }
      };
      await Promise.all(pubs.flatMap((c) => Array.from({ length: WINDOW / PUBLISHERS }, () => worker(c))));
      const fillSecs = Number(process.hrtime.bigint() - fillStart) / 1e9;
      await until(() => metrics['bridge/queue/messages'] === COUNT, `${COUNT} queued (have ${metrics['bridge/queue/messages']})`, 10_000);
      const queuedMb = Math.round(((metrics['bridge/queue/bytes'] ?? 0) / 1024 / 1024) * 10) / 10;
      const fillPeak = Math.max(peak, rssOf(child.pid!));

      peak = 0;
      const drainStart = process.hrtime.bigint();
      await cloud.start();
      await until(() => metrics['bridge/forwarded'] >= COUNT, 'backlog drained', 30 * 60_000);
      const drainSecs = Number(process.hrtime.bigint() - drainStart) / 1e9;
      const drainPeak = Math.max(peak, rssOf(child.pid!));
      const s = 'bridge-backlog';
      return [
        { scenario: s, metric: 'drain_msgs_per_sec', value: Math.round(COUNT / drainSecs), unit: 'msg/s' },
        { scenario: s, metric: 'queue_msgs_per_sec', value: Math.round(COUNT / fillSecs), unit: 'msg/s' },
        { scenario: s, metric: 'queued_messages', value: COUNT, unit: 'msg' },
        { scenario: s, metric: 'queued_mb', value: queuedMb, unit: 'MB' },
        withRatio({ scenario: s, metric: `gateway_rss_max_queueing_${cmd.kind}`, value: fillPeak, unit: 'MB', baseline: idle }),
        withRatio({ scenario: s, metric: `gateway_rss_max_draining_${cmd.kind}`, value: drainPeak, unit: 'MB', baseline: idle }),
      ];
    } finally {
      clearInterval(sampler);
      await Promise.all(clients.map((c) => c.endAsync().catch(() => {})));
      if (child.exitCode === null && child.signalCode === null) {
        await new Promise<void>((resolve) => {
          child.once('exit', () => resolve());
          child.kill('SIGTERM');
        });
      }
      await cloud.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
