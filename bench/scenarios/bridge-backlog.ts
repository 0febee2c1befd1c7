import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, Mosquitto } from '../../gateway/bridge/test/mosquitto.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { until } from '../../gateway/test/helpers.ts';
import { PI_NODE_ARGS, publishLoad, rssOf, startGatewayProcess } from './bridge-process.ts';

// A long outage: COUNT messages (default 1,000,000; BENCH_BRIDGE_BACKLOG scales it) are published
// QoS 1 into a gateway process while its cloud is down, then Mosquitto comes up and the backlog
// drains. Reports the drain rate and the gateway's RSS (from /proc) while queueing and while
// draining, each against the same process idle before the outage. Runs with Node's default flags
// and with the Pi flags (PI_NODE_ARGS); BENCH_GATEWAY_NODE_ARGS="..." runs once with those instead.

const COUNT = Number(process.env.BENCH_BRIDGE_BACKLOG ?? 1_000_000);
const PAYLOAD = Buffer.alloc(100, 0x61);

async function runOnce(nodeArgs: string[], label: string): Promise<Result[]> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-backlog-'));
  const cloud = new Mosquitto(dir, await freePort());
  const gw = await startGatewayProcess(dir, ['upstreams:', `  - { name: cloud, servers: ["${cloud.url}"], status: false, backoff: { initial: 50ms, max: 100ms } }`], nodeArgs).catch((err: Error) => {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  let peak = 0;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssOf(gw.pid));
  }, 100);
  try {
    await new Promise((r) => setTimeout(r, 1000));
    const idle = rssOf(gw.pid);
    peak = 0;
    const fillSecs = await publishLoad(gw.url, COUNT, 4, 512, PAYLOAD);
    await until(() => gw.metrics['bridge/queue/messages'] === COUNT, `${COUNT} queued (have ${gw.metrics['bridge/queue/messages']})`, 10_000);
    const queuedMb = Math.round((gw.metrics['bridge/queue/bytes']! / 1024 / 1024) * 10) / 10;
    const fillPeak = Math.max(peak, rssOf(gw.pid));
    peak = 0;
    const drainStart = process.hrtime.bigint();
    await cloud.start();
    await until(() => gw.metrics['bridge/forwarded']! >= COUNT, 'backlog drained', 30 * 60_000);
    const drainSecs = Number(process.hrtime.bigint() - drainStart) / 1e9;
    const drainPeak = Math.max(peak, rssOf(gw.pid));
    const s = 'bridge-backlog';
    const k = `${label}_${gw.kind}`;
    return [
      { scenario: s, metric: `drain_msgs_per_sec_${k}`, value: Math.round(COUNT / drainSecs), unit: 'msg/s' },
      { scenario: s, metric: `queue_msgs_per_sec_${k}`, value: Math.round(COUNT / fillSecs), unit: 'msg/s' },
      { scenario: s, metric: `queued_${k}`, value: COUNT, unit: 'msg' },
      { scenario: s, metric: `queued_mb_${k}`, value: queuedMb, unit: 'MB' },
      // Every bridge/dropped/<reason> counter (queue_full, expired, failed, no_rule, too_large): 0 expected.
      { scenario: s, metric: `dropped_${k}`, value: Object.entries(gw.metrics).reduce((n, [name, v]) => (name.startsWith('bridge/dropped/') ? n + Number(v) : n), 0), unit: 'msg' },
      withRatio({ scenario: s, metric: `gateway_rss_max_queueing_${k}`, value: fillPeak, unit: 'MB', baseline: idle, means: `gateway peak RSS while ${COUNT} messages queue with the cloud down / the same process idle before the outage; lower is better` }),
      withRatio({ scenario: s, metric: `gateway_rss_max_draining_${k}`, value: drainPeak, unit: 'MB', baseline: idle, means: 'gateway peak RSS while the backlog drains to the cloud / the same process idle before the outage; lower is better' }),
    ];
  } finally {
    clearInterval(sampler);
    await gw.stop();
    await cloud.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  name: 'bridge-backlog',
  description: `${COUNT} QoS 1 messages queued in a gateway process during an outage, then drained to Mosquitto; gateway RSS throughout (Node defaults, then the Pi flags)`,
  async run(): Promise<Result[]> {
    const custom = process.env.BENCH_GATEWAY_NODE_ARGS;
    if (custom !== undefined) return runOnce(custom.split(' ').filter(Boolean), 'custom');
    return [...(await runOnce([], 'default')), ...(await runOnce(PI_NODE_ARGS, 'pi_flags'))];
  },
};
