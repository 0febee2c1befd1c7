import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SegmentLog } from '../../gateway/bridge/segment-log.ts';
import { Mosquitto } from '../../gateway/bridge/test/mosquitto.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { PI_NODE_ARGS, publishLoad, rssOf, startGatewayProcess, until } from './bridge-process.ts';

// Durable uplink (with Node's default flags, and with the systemd unit's): local MQTT publishers (QoS 1, 100-byte payloads) -> gateway process -> bridge
// log (fsync group commit) -> Mosquitto, against the same path with `queue.storage: memory`. A
// message counts once Mosquitto has PUBACKed it to the bridge. Then the segment log alone under an
// open-loop load (messages arriving at a fixed rate, as from many devices): fsyncs per 1000
// messages and append latency with group commit every 5 ms vs an fsync per message.

const COUNT = Number(process.env.BENCH_BRIDGE_DURABLE_COUNT ?? 200_000);
const PAYLOAD = Buffer.alloc(100, 0x61);
const OPEN_LOOP_RATE = 5_000;
const OPEN_LOOP_SECS = 3;

async function uplink(storage: 'disk' | 'memory', cloudUrl: string, dir: string, nodeArgs: string[] = []): Promise<{ perSec: number; rss: number; syncs: number; bytes: number; kind: string }> {
  const gw = await startGatewayProcess(dir, ['queue:', `  storage: ${storage}`, 'upstreams:', `  - { name: cloud, servers: ["${cloudUrl}"], inflight: 256, status: false }`], nodeArgs);
  let rss = 0;
  const sampler = setInterval(() => {
    rss = Math.max(rss, rssOf(gw.pid));
  }, 100);
  try {
    await until(() => gw.metrics['bridge/upstreams/cloud/connected'] === 1, 'bridge connected', 10_000);
    const start = process.hrtime.bigint();
    await publishLoad(gw.url, COUNT, 4, 512, PAYLOAD);
    await until(() => gw.metrics['bridge/forwarded']! >= COUNT, 'all forwarded', 10 * 60_000);
    // $SYS reports every 250 ms: subtract half a period of reporting delay on average.
    const secs = Math.max(0.001, Number(process.hrtime.bigint() - start) / 1e9 - 0.125);
    return { perSec: Math.round(COUNT / secs), rss, syncs: gw.metrics['bridge/log/syncs']!, bytes: gw.metrics['bridge/log/bytes_written']!, kind: gw.kind };
  } finally {
    clearInterval(sampler);
    await gw.stop();
  }
}

/** The log alone, fed at a fixed rate: fsyncs per 1000 messages and append latency percentiles. */
async function openLoop(syncInterval: number): Promise<{ syncsPer1000: number; p50: number; p99: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-log-'));
  const log = new SegmentLog({ dir, name: 'normal', segmentBytes: 16 * 1024 * 1024, syncInterval });
  await log.open();
  const lat: number[] = [];
  const waits: Promise<void>[] = [];
  const perTick = OPEN_LOOP_RATE / 1000;
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < OPEN_LOOP_SECS * 1000) {
    const due = Math.floor((performance.now() - start) * perTick);
    for (; sent < due; sent++) {
      const t0 = performance.now();
      waits.push(log.append([{ topic: `bench/dev${sent % 64}`, payload: PAYLOAD, qos: 1, retain: false, mask: 1 }]).then(() => void lat.push(performance.now() - t0)));
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(waits);
  const syncs = log.syncs;
  await log.close();
  rmSync(dir, { recursive: true, force: true });
  lat.sort((a, b) => a - b);
  const pct = (p: number) => Math.round(lat[Math.min(lat.length - 1, Math.floor(lat.length * p))]! * 100) / 100;
  return { syncsPer1000: Math.round((syncs / sent) * 1000 * 10) / 10, p50: pct(0.5), p99: pct(0.99) };
}

export const scenario: Scenario = {
  name: 'bridge-durable',
  description: `${COUNT} QoS 1 100-byte messages, local MQTT -> gateway process -> fsynced bridge log -> Mosquitto, vs the queue in memory; the log alone at ${OPEN_LOOP_RATE} msg/s`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-durable-'));
    const cloud = await Mosquitto.create(dir);
    await cloud.start();
    try {
      const memory = await uplink('memory', cloud.url, dir);
      const durable = await uplink('disk', cloud.url, dir);
      // The same durable path under the V8 flags the systemd unit ships (small heap, for a Pi).
      const piFlags = await uplink('disk', cloud.url, dir, PI_NODE_ARGS);
      const grouped = await openLoop(5);
      const perMessage = await openLoop(0);
      const s = 'bridge-durable';
      return [
        withRatio({ scenario: s, metric: `durable_msgs_per_sec_${durable.kind}`, value: durable.perSec, unit: 'msg/s', baseline: memory.perSec }),
        { scenario: s, metric: `memory_msgs_per_sec_${memory.kind}`, value: memory.perSec, unit: 'msg/s' },
        withRatio({ scenario: s, metric: `durable_msgs_per_sec_pi_flags_${piFlags.kind}`, value: piFlags.perSec, unit: 'msg/s', baseline: memory.perSec }),
        withRatio({ scenario: s, metric: 'durable_gateway_rss_max_pi_flags', value: piFlags.rss, unit: 'MB', baseline: memory.rss }),
        { scenario: s, metric: 'durable_fsyncs_per_1000_msgs', value: Math.round((durable.syncs / COUNT) * 1000 * 100) / 100, unit: 'fsync' },
        { scenario: s, metric: 'durable_log_bytes_per_msg', value: Math.round((durable.bytes / COUNT) * 10) / 10, unit: 'B' },
        withRatio({ scenario: s, metric: 'durable_gateway_rss_max', value: durable.rss, unit: 'MB', baseline: memory.rss }),
        // sync_interval 0 commits as soon as the previous commit ends: near one fsync per message
        // at this rate, the write pattern of a store that commits every insert.
        withRatio({ scenario: s, metric: `log_fsyncs_per_1000_at_${OPEN_LOOP_RATE}_sync5ms`, value: grouped.syncsPer1000, unit: 'fsync', baseline: perMessage.syncsPer1000 }),
        { scenario: s, metric: `log_fsyncs_per_1000_at_${OPEN_LOOP_RATE}_sync0`, value: perMessage.syncsPer1000, unit: 'fsync' },
        withRatio({ scenario: s, metric: 'log_append_p50_ms_sync5ms', value: grouped.p50, unit: 'ms', baseline: perMessage.p50 }),
        withRatio({ scenario: s, metric: 'log_append_p99_ms_sync5ms', value: grouped.p99, unit: 'ms', baseline: perMessage.p99 }),
      ];
    } finally {
      await cloud.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
