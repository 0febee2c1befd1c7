import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bridgeUp, fdatasyncMs, startCloud, startFieldgateBridge, startMosquittoBridge } from '../bridges.ts';
import { runLoadgen, type LoadgenOutput } from '../loadgen.ts';
import type { Result, Scenario } from '../result.ts';
import { alternate, lossRows, pick, row } from '../rounds.ts';
import { mosquittoInstalled, startBareAedes, startFieldgate, startMosquitto, type Server } from '../servers.ts';

// Latency at a steady 1,000 msg/s (open loop: the generator publishes on schedule whatever the
// server's speed, so a stall shows in the percentiles instead of slowing the load), QoS 1,
// 100-byte payloads, one publisher, rounds alternated:
//  - broker: publish -> PUBACK and publish -> a local subscriber, fieldgate bundle vs bare aedes vs
//    Mosquitto (each in its own process; Node ones under the unit's V8 flags);
//  - bridge on: local publish -> PUBACK (fieldgate's after the fsync) and local publish -> a
//    subscriber on the cloud Mosquitto, fieldgate's bridge vs a Mosquitto bridge (tuned, not durable).
// Ratios: fieldgate's median percentile / the anchor's; lower is better.

const RATE = 1000;
const SECS = pick(3, 10);
const ROUNDS = pick(2, 3);
const KEYS = ['puback_p50_us', 'puback_p99_us', 'e2e_p50_us', 'e2e_p99_us'] as const;

function rows(sc: string, prefix: string, runs: Map<string, LoadgenOutput[]>, anchors: { name: string; label: string }[]): Result[] {
  const out: Result[] = [];
  const xs = (name: string, k: string) => (runs.get(name) ?? []).map((o) => Number(o[k]));
  for (const k of KEYS) {
    const m = `${prefix}_${k.replace('_us', '')}`;
    for (const a of anchors) if (runs.has(a.name)) out.push(row(sc, `${m}_fieldgate_vs_${a.name}`, 'us', xs('fieldgate', k), { xs: xs(a.name, k), means: `fieldgate ${k} / ${a.label} ${k}; lower is better` }));
    for (const name of runs.keys()) if (name !== 'fieldgate') out.push(row(sc, `${m}_${name}`, 'us', xs(name, k)));
  }
  return [...out, ...lossRows(sc, prefix, runs)];
}

const rateArgs = (local: Server, round: number, cloud?: Server) => ['rate', '-p', String(local.port), ...(cloud ? ['-P', String(cloud.port)] : []), '-n', '1', '-r', String(RATE), '-d', String(SECS), '-q', '1', '-t', `bench/lat${round}`, '-Q', '10'];

async function broker(dir: string): Promise<Result[]> {
  const servers: Server[] = [];
  try {
    servers.push(await startFieldgate(dir, 'fieldgate'));
    servers.push(await startBareAedes('aedes'));
    if (mosquittoInstalled()) servers.push(await startMosquitto(dir, 'mosquitto', ['max_queued_messages 0', 'max_inflight_messages 0']));
    const runs = await alternate(ROUNDS, servers.map((s) => s.name), (name, round) => runLoadgen(rateArgs(servers.find((s) => s.name === name)!, round)));
    return rows('latency', `broker_qos1_${RATE}ps`, runs, [
      { name: 'mosquitto', label: 'Mosquitto' },
      { name: 'aedes', label: 'bare aedes' },
    ]);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
}

async function bridged(dir: string): Promise<Result[]> {
  const cloud = await startCloud(dir);
  const locals: Server[] = [];
  try {
    locals.push(await startFieldgateBridge(dir, 'fieldgate', cloud));
    locals.push(await startMosquittoBridge(dir, 'mosquitto_bridge_tuned', cloud, true));
    for (const l of locals) await bridgeUp(l, cloud);
    const runs = await alternate(ROUNDS, locals.map((s) => s.name), (name, round) => runLoadgen(rateArgs(locals.find((s) => s.name === name)!, round, cloud)));
    const sync = await fdatasyncMs(dir);
    return [
      ...rows('latency', `bridge_qos1_${RATE}ps_to_cloud`, runs, [{ name: 'mosquitto_bridge_tuned', label: 'Mosquitto bridge (tuned, no persistence)' }]),
      { scenario: 'latency', metric: 'fdatasync_p50_here', value: sync.p50, unit: `ms (${sync.how})` },
      { scenario: 'latency', metric: 'fdatasync_p99_here', value: sync.p99, unit: `ms (${sync.how})` },
    ];
  } finally {
    await Promise.all(locals.map((s) => s.stop()));
    await cloud.stop();
  }
}

export const scenario: Scenario = {
  name: 'latency',
  description: `QoS 1 at ${RATE} msg/s for ${SECS} s x ${ROUNDS} alternated rounds: publish->PUBACK and publish->subscriber p50/p99, broker (fieldgate vs bare aedes vs Mosquitto) and with the bridge on (local publish -> cloud subscriber, fieldgate vs Mosquitto bridge)`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-latency-'));
    try {
      const out = await broker(dir);
      if (mosquittoInstalled()) out.push(...(await bridged(dir)));
      else process.stderr.write('bench: latency: mosquitto not installed: no bridge part (it needs a cloud broker)\n');
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
