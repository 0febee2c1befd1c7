import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generator, runLoadgen, type LoadgenOutput } from '../loadgen.ts';
import type { Result, Scenario } from '../result.ts';
import { alternate, lossRows, pick, row } from '../rounds.ts';
import { cpuSeconds, mosquittoInstalled, startBareAedes, startFieldgate, startMosquitto, type Server } from '../servers.ts';

// The broker alone, over TCP both ways: 4 publishers -> 1 subscriber (100-byte payloads, 64 in
// flight per publisher), QoS 0 and QoS 1, driven by the one load generator (bench/loadgen.ts) in
// its own process, into three servers in their own processes, rounds alternated:
//  - fieldgate: the release bundle, adapters and HTTP API off, under the unit's V8 flags;
//  - bare aedes over TCP, its defaults, under the same flags (what fieldgate is built on);
//  - Mosquitto (when installed) with no queue or in-flight limit, so that it loses nothing either.
// The ratios are fieldgate's median messages/s received by the subscriber over each baseline's,
// and fieldgate's median server CPU per message over each baseline's: user+sys of the server's own
// process (/proc/<pid>/stat) across each round, divided by the messages the subscriber received.
// CPU per message is what the server spends, which a loaded machine changes much less than msg/s
// (that also counts the time the server waited for a core), so the QoS 1 verdict against
// Mosquitto can be checked from this bench on a busy machine too.

const ROUNDS = pick(2, 5);
const CASES = [
  { qos: 0, count: pick(50_000, 300_000) },
  { qos: 1, count: pick(30_000, 150_000) },
];

/** Loadgen runs for one case, alternated over the servers; each with `server_cpu_s`, the server process's CPU seconds during the run. */
async function measure(servers: Server[], qos: number, count: number): Promise<Map<string, LoadgenOutput[]>> {
  return alternate(ROUNDS, servers.map((s) => s.name), async (name, round) => {
    const s = servers.find((x) => x.name === name)!;
    const cpu0 = cpuSeconds(s.pid);
    const o = await runLoadgen(['pubsub', '-p', String(s.port), '-n', '4', '-w', '64', '-q', String(qos), '-c', String(count), '-t', `bench/r${round}`, '-T', '300']);
    return { ...o, server_cpu_s: cpuSeconds(s.pid) - cpu0 };
  });
}

export const scenario: Scenario = {
  name: 'broker-ingest',
  description: `broker over TCP, 4 publishers -> 1 subscriber, QoS 0 and 1, ${ROUNDS} alternated rounds: fieldgate bundle vs bare aedes vs Mosquitto, one load generator for all`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-broker-'));
    const servers: Server[] = [];
    try {
      const gen = await generator();
      servers.push(await startFieldgate(dir, 'fieldgate'));
      servers.push(await startBareAedes('aedes'));
      if (mosquittoInstalled()) servers.push(await startMosquitto(dir, 'mosquitto', ['max_queued_messages 0', 'max_inflight_messages 0']));
      else process.stderr.write('bench: broker-ingest: mosquitto not installed, no Mosquitto baseline\n');
      for (const s of servers) process.stderr.write(`bench: broker-ingest: ${s.name}: ${s.how}\n`);
      const out: Result[] = [];
      const sc = 'broker-ingest';
      for (const { qos, count } of CASES) {
        const runs = await measure(servers, qos, count);
        const rate = (n: string) => (runs.get(n) ?? []).map((o) => Number(o.recv_per_sec));
        // Microseconds of the server's own CPU per message the subscriber received.
        const cpuUs = (n: string) => (runs.get(n) ?? []).map((o) => (Number(o.server_cpu_s) / Number(o.received || o.acked)) * 1e6);
        const cpuMeans = (b: string) => `fieldgate's CPU per message / ${b} (user+sys of each server's own process from /proc/<pid>/stat over the same alternated rounds, per message received by the subscriber); lower is better, and less load-sensitive than msg/s`;
        const k = `qos${qos}_4to1_${count}`;
        out.push(row(sc, `${k}_fieldgate_vs_aedes`, 'msg/s', rate('fieldgate'), { xs: rate('aedes'), means: 'fieldgate msg/s / bare aedes msg/s (same generator, both over TCP, both under the unit flags); higher is better' }));
        if (runs.has('mosquitto')) out.push(row(sc, `${k}_fieldgate_vs_mosquitto`, 'msg/s', rate('fieldgate'), { xs: rate('mosquitto'), means: 'fieldgate msg/s / Mosquitto msg/s; higher is better' }));
        out.push(row(sc, `${k}_fieldgate_cpu_per_msg_vs_aedes`, 'us CPU/msg', cpuUs('fieldgate'), { xs: cpuUs('aedes'), means: cpuMeans("bare aedes'") }));
        if (runs.has('mosquitto')) out.push(row(sc, `${k}_fieldgate_cpu_per_msg_vs_mosquitto`, 'us CPU/msg', cpuUs('fieldgate'), { xs: cpuUs('mosquitto'), means: cpuMeans("Mosquitto's") }));
        for (const [name, rs] of runs) {
          if (name !== 'fieldgate') out.push(row(sc, `${k}_${name}`, 'msg/s', rate(name)));
          out.push(row(sc, `${k}_${name}_server_cpu_per_msg`, 'us CPU/msg', cpuUs(name)));
          out.push(row(sc, `${k}_${name}_generator_cpu_per_100k`, `s (${gen.kind})`, rs.map((o) => (Number(o.cpu_s) / Number(o.received || o.acked)) * 100_000)));
        }
        out.push(...lossRows(sc, k, runs));
      }
      return out;
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
