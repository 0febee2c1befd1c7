import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHES, buildRelease, type Arch } from '../../deploy/build.ts';
import { freePort } from '../../gateway/bridge/test/mosquitto.ts';
import { generator, idleClients } from '../loadgen.ts';
import type { Result, Scenario } from '../result.ts';
import { alternate, pick, row } from '../rounds.ts';
import { gatewayCommand, PI_NODE_ARGS } from './bridge-process.ts';
import { mosquittoInstalled, startBareAedes, startFieldgate, startMosquitto, type Server } from '../servers.ts';

// What a Raspberry Pi owner pays in memory, measured on what ships: fieldgate's release bundle
// (npm run build) under the systemd unit's V8 flags (deploy/raspi/fieldgate.service), with MQTT and
// the CoAP adapter (on by default) and the HTTP API off, against what they could run instead, each
// started fresh in its own process, rounds alternated:
//  - bare aedes + node-coap (bench/servers/bare-aedes.ts) under the same flags;
//  - Mosquitto with its defaults (MQTT only: it has no CoAP);
//  - an empty Node.js process (a timer, nothing loaded) under the same flags: the floor any
//    Node.js server starts from, most of it the node binary's own pages.
// Per server: idle RSS 2 s after it listens (VmRSS, and its private part RssAnon: VmRSS less the
// file pages of the node binary and its libraries), then RSS with CONNS idle MQTT clients (each
// subscribed to devices/<id>/cmd at QoS 1, held by the load generator in its own process), and from
// the two the RSS per idle connection. Plus fieldgate with the HTTP API on (the shipped default):
// idle RSS, and start-up to "fieldgate started" (every listener up, READY=1) with it on and off, in
// wall time and in CPU time of the main thread (which the load of a shared machine hardly moves).
// And the bundle and arm64 tarball sizes. Targets (issue 19): idle RSS <= 45 MB, <= 6 KB per idle
// connection at 5,000; issue 16: the HTTP API costs <= 8 MB and <= 50 ms of start-up.

const ROUNDS = pick(1, 3);
const STARTUP_ROUNDS = pick(3, 7);
const CONNS = pick(1000, 5000);
const SETTLE_MS = 2000;
const COAP = '{ enabled: true, host: 127.0.0.1, port: 0, ipv6: { enabled: false } }';

type Kind = 'fieldgate' | 'aedes_coap' | 'mosquitto' | 'node_floor' | 'fieldgate_http_on';
/** Measured idle only (no connections). */
const IDLE_ONLY: readonly Kind[] = ['node_floor', 'fieldgate_http_on'];

interface Rss {
  rss: number;
  anon: number;
}

/** VmRSS and RssAnon of a process in kB, from /proc (Linux). */
function rssOf(pid: number): Rss {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

/** An empty Node.js process under the unit's flags: a timer keeps it alive, nothing else is loaded. */
async function startNodeFloor(): Promise<Server> {
  const child = spawn(process.execPath, [...PI_NODE_ARGS, '-e', 'setInterval(() => {}, 1000); process.stdout.write("up\\n")'], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    child.stdout!.once('data', () => resolve());
    child.once('exit', (code) => reject(new Error(`empty node exited (${code})`)));
  });
  child.removeAllListeners('exit');
  return {
    name: 'node_floor',
    port: 0,
    pid: child.pid!,
    how: `node ${PI_NODE_ARGS.join(' ')} -e <a timer>`,
    stop: () => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM')))),
  };
}

async function start(kind: Kind, dir: string): Promise<Server> {
  const fds = CONNS + 1000;
  if (kind === 'fieldgate') return startFieldgate(dir, kind, { adapters: { coap: COAP }, fds });
  if (kind === 'fieldgate_http_on') return startFieldgate(dir, kind, { adapters: { coap: COAP }, extra: 'http: { host: 127.0.0.1, port: 0 }\n', fds });
  if (kind === 'aedes_coap') return startBareAedes(kind, { coap: true, fds });
  if (kind === 'node_floor') return startNodeFloor();
  return startMosquitto(dir, kind, [], fds);
}

interface Sample {
  idle: Rss;
  loaded?: Rss;
  perConnKb: number;
  startMs: number;
}

async function sample(kind: Kind, dir: string): Promise<Sample> {
  const t0 = performance.now();
  const s = await start(kind, dir);
  const startMs = performance.now() - t0;
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = rssOf(s.pid);
    if (IDLE_ONLY.includes(kind)) return { idle, perConnKb: NaN, startMs };
    const clients = await idleClients(s.port, CONNS);
    try {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const loaded = rssOf(s.pid);
      return { idle, loaded, perConnKb: (loaded.rss - idle.rss) / CONNS, startMs };
    } finally {
      await clients.stop();
    }
  } finally {
    await s.stop();
  }
}

/** CPU time of a process's main thread in ms (/proc/<pid>/task/<pid>/schedstat, ns on CPU). */
function mainThreadCpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

interface Startup {
  wallMs: number;
  cpuMs: number;
}

/** The bundle from spawn to its "fieldgate started" line (logged once every listener and component is up). */
async function startup(http: boolean, dir: string): Promise<Startup> {
  const port = await freePort();
  const data = join(dir, `startup-${port}`);
  mkdirSync(data, { recursive: true });
  const config = join(data, 'fieldgate.yaml');
  const adapters = ['tcp', 'lwm2m', 'ble', 'modem'].map((a) => `  ${a}: { enabled: false }\n`).join('');
  writeFileSync(config, `gateway:\n  data_dir: ${data}\nlog: { level: info, format: json }\nbroker: { listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }\nhttp: ${http ? '{ host: 127.0.0.1, port: 0 }' : '{ enabled: false }'}\nadapters:\n  coap: ${COAP}\n${adapters}`);
  const cmd = await gatewayCommand();
  const t0 = performance.now();
  const child = spawn(process.execPath, [...PI_NODE_ARGS, ...cmd.argv, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '' } });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  try {
    return await new Promise<Startup>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('fieldgate started')) return;
        child.stdout!.removeAllListeners('data');
        resolve({ wallMs: performance.now() - t0, cpuMs: mainThreadCpuMs(child.pid!) });
      });
      child.once('exit', (code) => reject(new Error(`fieldgate exited (${code}) before starting: ${err}`)));
    });
  } finally {
    child.removeAllListeners('exit');
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

export const scenario: Scenario = {
  name: 'footprint',
  description: `release bundle under the unit's V8 flags (MQTT + CoAP, HTTP off) vs bare aedes + node-coap vs Mosquitto vs an empty node, fresh processes, ${ROUNDS} alternated round(s): idle RSS and RSS per idle MQTT connection at ${CONNS}; HTTP API on vs off: idle RSS and start-up (${STARTUP_ROUNDS} rounds); targets: idle <= 45 MB, <= 6 KB/connection at 5,000, HTTP API <= 8 MB and <= 50 ms`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-footprint-'));
    try {
      await generator();
      // Build the release tree before anything is timed (the first start would include the build).
      const cmd = await gatewayCommand();
      if (cmd.kind !== 'bundle') throw new Error('footprint measures the release bundle, and it did not build');
      const kinds: Kind[] = ['fieldgate', 'aedes_coap', ...(mosquittoInstalled() ? (['mosquitto'] as const) : []), 'node_floor', 'fieldgate_http_on'];
      const runs = await alternate(ROUNDS, kinds, (k) => sample(k, dir));
      const starts = await alternate(STARTUP_ROUNDS, ['http_off', 'http_on'] as const, (k) => startup(k === 'http_on', dir));
      const sc = 'footprint';
      const xs = (k: Kind, f: (s: Sample) => number) => (runs.get(k) ?? []).map(f);
      const idle = (s: Sample) => s.idle.rss / 1024;
      const anon = (s: Sample) => s.idle.anon / 1024;
      const per = (s: Sample) => s.perConnKb;
      const out: Result[] = [
        row(sc, 'idle_rss_fieldgate_vs_aedes_coap', 'MB', xs('fieldgate', idle), { xs: xs('aedes_coap', idle), means: 'fieldgate bundle idle RSS / bare aedes + node-coap idle RSS (same V8 flags); lower is better; target: fieldgate <= 45 MB' }),
        row(sc, 'idle_rss_fieldgate_vs_node_floor', 'MB', xs('fieldgate', idle), { xs: xs('node_floor', idle), means: 'fieldgate bundle idle RSS / an empty node process under the same flags (the floor of any Node.js server, mostly the node binary\'s own pages)' }),
        row(sc, 'idle_private_rss_fieldgate_vs_aedes_coap', 'MB', xs('fieldgate', anon), { xs: xs('aedes_coap', anon), means: 'RssAnon (VmRSS without the file pages of node and its libraries): fieldgate / bare aedes + node-coap; lower is better' }),
        row(sc, 'idle_private_rss_fieldgate_vs_node_floor', 'MB', xs('fieldgate', anon), { xs: xs('node_floor', anon), means: 'RssAnon: fieldgate / an empty node process under the same flags' }),
        row(sc, `rss_per_idle_conn_at_${CONNS}_fieldgate_vs_aedes_coap`, 'KB', xs('fieldgate', per), { xs: xs('aedes_coap', per), means: `fieldgate (RSS with ${CONNS} idle clients - idle RSS) / ${CONNS} over the same for bare aedes + node-coap; lower is better; target: fieldgate <= 6 KB at 5,000` }),
      ];
      if (runs.has('mosquitto')) {
        out.push(
          row(sc, 'idle_rss_fieldgate_vs_mosquitto', 'MB', xs('fieldgate', idle), { xs: xs('mosquitto', idle), means: 'fieldgate bundle idle RSS / Mosquitto idle RSS; lower is better' }),
          row(sc, `rss_per_idle_conn_at_${CONNS}_fieldgate_vs_mosquitto`, 'KB', xs('fieldgate', per), { xs: xs('mosquitto', per), means: 'fieldgate RSS per idle connection / Mosquitto RSS per idle connection; lower is better' }),
        );
      }
      for (const k of ['aedes_coap', 'mosquitto', 'node_floor'] as const) {
        if (!runs.has(k)) continue;
        out.push(row(sc, `idle_rss_${k}`, 'MB', xs(k, idle)));
        if (k !== 'node_floor') out.push(row(sc, `rss_per_idle_conn_at_${CONNS}_${k}`, 'KB', xs(k, per)));
      }
      for (const k of ['fieldgate', 'aedes_coap', 'mosquitto'] as const) if (runs.has(k)) out.push(row(sc, `rss_with_${CONNS}_idle_conns_${k}`, 'MB', xs(k, (s) => (s.loaded?.rss ?? NaN) / 1024)));
      const st = (k: 'http_off' | 'http_on', f: (s: Startup) => number) => (starts.get(k) ?? []).map(f);
      out.push(
        row(sc, 'idle_rss_fieldgate_http_on_vs_off', 'MB', xs('fieldgate_http_on', idle), { xs: xs('fieldgate', idle), means: 'fieldgate idle RSS with the HTTP API on (the shipped default) / with it off; target: on - off <= 8 MB' }),
        row(sc, 'startup_to_ready_cpu_http_on_vs_off', 'ms', st('http_on', (s) => s.cpuMs), { xs: st('http_off', (s) => s.cpuMs), means: 'main-thread CPU time from spawn to "fieldgate started" with the HTTP API on / off; target: on - off <= 50 ms' }),
        row(sc, 'startup_to_ready_wall_http_on_vs_off', 'ms', st('http_on', (s) => s.wallMs), { xs: st('http_off', (s) => s.wallMs), means: 'wall time from spawn to "fieldgate started", HTTP API on / off (moves with the machine\'s load; the CPU row does not)' }),
        row(sc, 'startup_to_listening_fieldgate_vs_aedes_coap', 'ms', xs('fieldgate', (s) => s.startMs), { xs: xs('aedes_coap', (s) => s.startMs), means: 'fieldgate bundle spawn-to-MQTT-listening / bare aedes + node-coap spawn-to-listening; lower is better' }),
      );
      // Sizes: the bundle (entry and chunks; a start reads only the chunks it imports), and the arm64 tarball a Pi downloads.
      const host: Arch = (ARCHES as readonly string[]).includes(process.arch) ? (process.arch as Arch) : 'x64';
      const built = await buildRelease({ out: join(dir, 'dist'), arches: host === 'arm64' ? ['arm64'] : ['arm64', host] });
      const kib = (n: number) => Math.round(n / 1024);
      out.push(
        { scenario: sc, metric: 'bundle_size', value: kib(built.bundleBytes), unit: 'KiB' },
        { scenario: sc, metric: 'bundle_entry_size', value: kib(statSync(built.bundle).size), unit: 'KiB' },
        { scenario: sc, metric: 'bundle_chunks', value: built.chunks, unit: 'files' },
        { scenario: sc, metric: 'tarball_size_linux_arm64', value: kib(statSync(built.tarballs.find((t) => t.arch === 'arm64')!.path).size), unit: 'KiB' },
      );
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
