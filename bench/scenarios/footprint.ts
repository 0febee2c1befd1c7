import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { ARCHES, buildRelease, type Arch } from '../../deploy/build.ts';
import { freePort } from '../../gateway/bridge/test/mosquitto.ts';
import { generator, idleClients } from '../loadgen.ts';
import type { Result, Scenario } from '../result.ts';
import { alternate, pick, row } from '../rounds.ts';
import { apiFromStartedLine, firstRequestRows, httpChunks, mainThreadCpuMs, statusRequest, type RequestCost } from './footprint-http.ts';
import { gatewayCommand, PI_NODE_ARGS } from './bridge-process.ts';
import { mosquittoInstalled, startBareAedes, startFieldgate, startMosquitto, warmUp, type Server } from '../servers.ts';

// What a Raspberry Pi owner pays in memory, measured on what ships: fieldgate's release bundle
// (npm run build) under the systemd unit's V8 flags (deploy/raspi/fieldgate.service), with MQTT and
// the CoAP adapter (on by default) and the HTTP API off, against what they could run instead, each
// started fresh in its own process, rounds alternated:
//  - bare aedes + node-coap (bench/servers/bare-aedes.ts) under the same flags;
//  - Mosquitto with its defaults (MQTT only: it has no CoAP);
//  - an empty Node.js process (a timer, nothing loaded) under the same flags: the floor any
//    Node.js server starts from, most of it the node binary's own pages.
// Per server: idle RSS 2 s after it listens and has answered one warm-up client (VmRSS, and its private part RssAnon: VmRSS less the
// file pages of the node binary and its libraries), then RSS with CONNS idle MQTT clients (each
// subscribed to devices/<id>/cmd at QoS 1, held by the load generator in its own process), and from
// the two the RSS per idle connection, all under the Node.js running the bench. The warm-up client
// (CONNECT -> CONNACK, DISCONNECT) comes before the idle sample for every MQTT server alike: the
// Node ones' first packet write builds mqtt-packet's ~6 MB number cache (writeToStream.js,
// generateCache), a one-time cost that would otherwise land in whichever idle sample came before it
// and then in that server's per-connection delta (bare aedes: ~1.2 KB each at 5,000 connections). Plus fieldgate
// with the HTTP API on (the shipped default): idle RSS, and start-up with it on and off, alternated,
// where start-up is measured three ways from the spawn of the process:
//  - startup_cpu_to_ready: CPU time of the main thread until the "fieldgate started" line (logged
//    when every listener and component is up, as READY=1 goes to systemd); the load of a shared
//    machine moves it much less than wall time;
//  - startup_wall_to_ready: wall time until that line;
//  - startup_wall_to_mqtt_accepting: wall time until the MQTT listener accepts a TCP connection.
// With the HTTP API on, the port is bound at start and fastify with the routes is loaded by the
// first request (gateway/http/listener.ts): so the first `GET /api/v5/status` after the start line
// is measured too (wall, and the gateway's main-thread CPU; the second request's for comparison),
// with start-up plus that request against start-up with the API off, and RSS after it; the bench
// fails if the bundle loads fastify at start (footprint-http.ts).
// Each under the Node.js running the bench and, given `--node=PATH` (or BENCH_NODE; Node.js 22 LTS
// from `bash bench/lts-node.sh`), under that one without a compile cache and, from 22.1 on, with a
// warm one (CACHE_DIRECTORY, as the unit sets it; gateway/lifecycle/compile-cache.ts): each row's
// name says which Node.js it is from. And the bundle and arm64 tarball sizes. Targets (issue 19): idle RSS <= 45 MB, <= 6 KB per idle
// connection at 5,000; issue 16: the HTTP API costs <= 8 MB and <= 50 ms of start-up.

const ROUNDS = pick(1, 3);
/** BENCH_STARTUP_ROUNDS=N for more start-up rounds: on a loaded machine a 10 ms change needs ~15 to show in the medians. */
const STARTUP_ROUNDS = Number(process.env.BENCH_STARTUP_ROUNDS) || pick(3, 7);
const CONNS = pick(1000, 5000);
const SETTLE_MS = 2000;
/**
 * Idle for longer: V8's memory reducer runs once the allocation rate has stayed low for a while
 * (30-45 s after start here), shrinks the young generation to its initial size and compacts the
 * old one, ~6 MB of RSS the 2 s samples still hold. Full mode only (one sample).
 */
const SETTLED_MS = pick(0, 90_000);
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
  if (kind === 'fieldgate_http_on') {
    const port = await freePort();
    const s = await startFieldgate(dir, kind, { adapters: { coap: COAP }, extra: `http: { host: 127.0.0.1, port: ${port} }\n`, fds });
    httpPort.set(s.pid, port);
    return s;
  }
  if (kind === 'aedes_coap') return startBareAedes(kind, { coap: true, fds });
  if (kind === 'node_floor') return startNodeFloor();
  return startMosquitto(dir, kind, [], fds);
}

/** The HTTP API's port of each fieldgate_http_on process. */
const httpPort = new Map<number, number>();

interface Sample {
  idle: Rss;
  /** HTTP API on: RSS SETTLE_MS after the first request (which loads fastify). */
  afterFirstRequest?: Rss;
  loaded?: Rss;
  perConnKb: number;
  startMs: number;
}

async function sample(kind: Kind, dir: string): Promise<Sample> {
  const t0 = performance.now();
  const s = await start(kind, dir);
  const startMs = performance.now() - t0;
  try {
    if (kind !== 'node_floor') await warmUp(s.port);
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = rssOf(s.pid);
    if (kind === 'fieldgate_http_on') {
      await statusRequest(s.pid, `http://127.0.0.1:${httpPort.get(s.pid)}`);
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      return { idle, afterFirstRequest: rssOf(s.pid), perConnKb: NaN, startMs };
    }
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

/** fieldgate's idle RSS SETTLED_MS after it listens. */
async function settledRss(dir: string): Promise<Rss> {
  const s = await start('fieldgate', dir);
  try {
    await warmUp(s.port);
    await new Promise((r) => setTimeout(r, SETTLED_MS));
    return rssOf(s.pid);
  } finally {
    await s.stop();
  }
}

/**
 * A Node.js to run the bundle with: this one (what runs the bench), or another given with
 * `--node=PATH` (or BENCH_NODE=PATH), e.g. the current LTS from `bash bench/lts-node.sh`, without
 * and with V8's compile cache (gateway/lifecycle/compile-cache.ts), which needs Node.js >= 22.1.
 */
interface Runtime {
  /** In metric names: node_v20.20.2, node_v22.23.3_cache_warm. */
  label: string;
  node: string;
  /** CACHE_DIRECTORY for the bundle (as systemd's CacheDirectory= sets it), warmed by one start before the rounds. */
  cacheDir?: string;
}

function nodeVersion(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
}

/** --node=PATH or BENCH_NODE: the other Node.js to measure start-up with. */
function otherNode(): string | undefined {
  const arg = process.argv.find((a) => a.startsWith('--node='));
  return arg ? arg.slice('--node='.length) : process.env.BENCH_NODE || undefined;
}

function runtimes(dir: string): Runtime[] {
  const own: Runtime = { label: `node_${process.version}`, node: process.execPath };
  const other = otherNode();
  if (!other) return [own];
  const v = nodeVersion(other);
  const out: Runtime[] = [own, { label: `node_${v}_no_cache`, node: other }];
  const [major, minor] = v.slice(1).split('.').map(Number) as [number, number];
  if (major > 22 || (major === 22 && minor >= 1)) out.push({ label: `node_${v}_cache_warm`, node: other, cacheDir: join(dir, `compile-cache-${v}`) });
  return out;
}

interface Startup {
  /** Main-thread CPU time from spawn to the "fieldgate started" line. */
  cpuMs: number;
  /** Wall time from spawn to the "fieldgate started" line. */
  readyMs: number;
  /** Wall time from spawn to the first TCP connection the MQTT listener accepts. */
  acceptMs: number;
  /** HTTP API on: the first `GET /api/v5/status`, sent once the start line is out, and the second. */
  first?: RequestCost;
  second?: RequestCost;
  /** HTTP API on: wall time from spawn to the first request's answer. */
  firstAnsweredMs?: number;
}

/** Polls the MQTT port with TCP connects until one is accepted; resolves with the time it was. */
function firstAccept(port: number, stop: { done: boolean }): Promise<number> {
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (stop.done) return reject(new Error('stopped'));
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        const t = performance.now();
        s.destroy();
        resolve(t);
      });
      s.once('error', () => {
        s.destroy();
        setTimeout(attempt, 2);
      });
    };
    attempt();
  });
}

/**
 * One start of the bundle (MQTT + CoAP, HTTP API on or off) under `rt`: spawn to its
 * "fieldgate started" line (logged once every listener and component is up, when READY=1 goes
 * to systemd), and to the MQTT listener's first accepted connection.
 */
/** A start's config (MQTT on a free port, CoAP, HTTP API on or off), its MQTT port and environment. */
async function startupSetup(rt: Runtime, http: boolean, dir: string): Promise<{ config: string; port: number; env: NodeJS.ProcessEnv }> {
  const port = await freePort();
  const data = join(dir, `startup-${port}`);
  mkdirSync(data, { recursive: true });
  const config = join(data, 'fieldgate.yaml');
  const adapters = ['tcp', 'lwm2m', 'ble', 'modem'].map((a) => `  ${a}: { enabled: false }\n`).join('');
  writeFileSync(config, `gateway:\n  data_dir: ${data}\nlog: { level: info, format: json }\nbroker: { listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }\nhttp: ${http ? '{ host: 127.0.0.1, port: 0 }' : '{ enabled: false }'}\nadapters:\n  coap: ${COAP}\n${adapters}`);
  // The compile cache only where this runtime asks for it: never one the caller's environment names.
  const { NODE_COMPILE_CACHE: _n, CACHE_DIRECTORY: _c, ...inherited } = process.env;
  return { config, port, env: { ...inherited, NOTIFY_SOCKET: '', ...(rt.cacheDir ? { CACHE_DIRECTORY: rt.cacheDir } : {}) } };
}

async function startup(rt: Runtime, http: boolean, dir: string): Promise<Startup> {
  const { config, port, env } = await startupSetup(rt, http, dir);
  const cmd = await gatewayCommand();
  const stop = { done: false };
  const t0 = performance.now();
  const child = spawn(rt.node, [...PI_NODE_ARGS, ...cmd.argv, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const accepted = firstAccept(port, stop);
  accepted.catch(() => {});
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  try {
    const ready = await new Promise<{ readyMs: number; cpuMs: number; out: string }>((resolve, reject) => {
      let out = '';
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (!out.includes('fieldgate started')) return;
        child.stdout!.removeAllListeners('data');
        resolve({ readyMs: performance.now() - t0, cpuMs: mainThreadCpuMs(child.pid!), out });
      });
      child.once('exit', (code) => reject(new Error(`fieldgate exited (${code}) before starting: ${err}`)));
    });
    const acceptMs = (await accepted) - t0;
    if (!http) return { readyMs: ready.readyMs, cpuMs: ready.cpuMs, acceptMs };
    // Once the MQTT accept is seen, as a client would come: the request that loads fastify, then one that does not.
    const api = apiFromStartedLine(ready.out);
    const first = await statusRequest(child.pid!, api);
    return { readyMs: ready.readyMs, cpuMs: ready.cpuMs, acceptMs, first, firstAnsweredMs: first.endAt - t0, second: await statusRequest(child.pid!, api) };
  } finally {
    stop.done = true;
    child.removeAllListeners('exit');
    await new Promise<void>((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  }
}

/**
 * BENCH_CALLGRIND=1: instructions executed (valgrind's callgrind, every thread) from the spawn
 * until the "fieldgate started" line and a SIGTERM stop, in millions. The machine's load does not
 * move them (V8's background work a little: about +-1 % here), so a few rounds resolve a change
 * that the CPU times' spread hides. Each start takes ~50x as long as without valgrind.
 */
const CALLGRIND = process.env.BENCH_CALLGRIND === '1';
/** BENCH_CALLGRIND_ROUNDS=N: more rounds (e.g. 3 in quick mode, which otherwise runs 1). */
const CALLGRIND_ROUNDS = Number(process.env.BENCH_CALLGRIND_ROUNDS) || pick(1, 3);

type CountedStart = 'http_off' | 'http_on' | 'http_on_first_request';

/** `http_on_first_request`: on, and stopped once the first `GET /api/v5/status` is answered. */
async function instructions(rt: Runtime, mode: CountedStart, dir: string): Promise<number> {
  const { config, env } = await startupSetup(rt, mode !== 'http_off', dir);
  const cmd = await gatewayCommand();
  const child = spawn('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', rt.node, ...PI_NODE_ARGS, ...cmd.argv, 'start', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let err = '';
  let out = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  child.stdout!.on('data', (d: Buffer) => {
    if (out.includes('fieldgate started')) return;
    out = (out + d.toString()).slice(-4000);
    if (!out.includes('fieldgate started')) return;
    if (mode !== 'http_on_first_request') return void child.kill('SIGTERM');
    const answered = (ok: boolean) => (ok || (out += ' (first request failed)'), child.kill('SIGTERM'));
    fetch(`${apiFromStartedLine(out)}/api/v5/status`).then((r) => answered(r.status === 200), () => answered(false));
  });
  await new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const n = /Collected : (\d+)/.exec(err)?.[1];
  if (!n || !out.includes('fieldgate started') || out.includes('(first request failed)')) throw new Error(`callgrind start did not complete: ${err.slice(-500)}`);
  return Number(n) / 1e6;
}

/** Start-up rows for one runtime: HTTP API on against off, alternated. */
async function startupRows(sc: string, rt: Runtime, dir: string): Promise<Result[]> {
  if (rt.cacheDir) await startup(rt, true, dir); // fills the cache: the rounds measure a warm one
  const starts = await alternate(STARTUP_ROUNDS, ['http_off', 'http_on'] as const, (k) => startup(rt, k === 'http_on', dir));
  const st = (k: 'http_off' | 'http_on', f: (s: Startup) => number) => (starts.get(k) ?? []).map(f);
  const under = rt.cacheDir ? `${rt.label.replace(/^node_/, 'Node.js ').replace(/_cache_warm$/, '')} with a warm compile cache` : rt.label.replace(/^node_/, 'Node.js ').replace(/_no_cache$/, ' (no compile cache)');
  // Round i's on less round i's off (started next to each other, so under about the same load): the
  // median of these differences is the HTTP API's cost with less of the machine's drift in it.
  const on = st('http_on', (s) => s.cpuMs);
  const counted = CALLGRIND ? await alternate(CALLGRIND_ROUNDS, ['http_off', 'http_on', 'http_on_first_request'] as const, (k) => instructions(rt, k, dir)) : undefined;
  const ins = (k: CountedStart) => counted?.get(k) ?? [];
  const minusOff = (k: CountedStart) => ins(k).map((v, i) => v - ins('http_off')[i]!);
  const instructionRows = counted
    ? [
        row(sc, `startup_instructions_http_on_minus_off_${rt.label}`, 'M instr', minusOff('http_on')),
        row(sc, `startup_instructions_http_on_vs_off_${rt.label}`, 'M instr', ins('http_on'), { xs: ins('http_off'), means: `${under}: instructions (callgrind, BENCH_CALLGRIND=1) from spawn to "fieldgate started" and a SIGTERM stop, HTTP API on / off` }),
        row(sc, `startup_and_first_request_instructions_http_on_minus_off_${rt.label}`, 'M instr', minusOff('http_on_first_request')),
        row(sc, `first_request_instructions_${rt.label}`, 'M instr', ins('http_on_first_request').map((v, i) => v - ins('http_on')[i]!)),
      ]
    : [];
  const diffs = st('http_off', (s) => s.cpuMs).map((off, i) => on[i]! - off);
  return [
    row(sc, `startup_cpu_http_on_minus_off_${rt.label}`, 'ms', diffs),
    row(sc, `startup_cpu_to_ready_http_on_vs_off_${rt.label}`, 'ms', on, { xs: st('http_off', (s) => s.cpuMs), means: `${under}: main-thread CPU time from spawn to "fieldgate started" (every listener up, READY=1), HTTP API on / off; target: on - off <= 50 ms` }),
    row(sc, `startup_wall_to_ready_http_on_vs_off_${rt.label}`, 'ms', st('http_on', (s) => s.readyMs), { xs: st('http_off', (s) => s.readyMs), means: `${under}: wall time from spawn to "fieldgate started", HTTP API on / off (moves with the machine's load; the CPU row hardly does)` }),
    row(sc, `startup_wall_to_mqtt_accepting_http_on_vs_off_${rt.label}`, 'ms', st('http_on', (s) => s.acceptMs), { xs: st('http_off', (s) => s.acceptMs), means: `${under}: wall time from spawn to the first TCP connection the MQTT listener accepts, HTTP API on / off` }),
    ...firstRequestRows(sc, rt.label, under, starts.get('http_on') ?? [], starts.get('http_off') ?? []),
    ...instructionRows,
  ];
}

export const scenario: Scenario = {
  name: 'footprint',
  description: `release bundle under the unit's V8 flags (MQTT + CoAP, HTTP off) vs bare aedes + node-coap vs Mosquitto vs an empty node, fresh processes, ${ROUNDS} alternated round(s): idle RSS and RSS per idle MQTT connection at ${CONNS}; HTTP API on vs off: idle RSS and start-up (${STARTUP_ROUNDS} rounds); RSS under Node.js ${process.version}, start-up under it${otherNode() ? ` and under ${otherNode()}` : ' (--node=PATH adds another)'}; targets: idle <= 45 MB, <= 6 KB/connection at 5,000, HTTP API <= 8 MB and <= 50 ms`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-footprint-'));
    try {
      await generator();
      // Build the release tree before anything is timed (the first start would include the build).
      const cmd = await gatewayCommand();
      if (cmd.kind !== 'bundle') throw new Error('footprint measures the release bundle, and it did not build');
      const http = httpChunks(dirname(cmd.argv[0]!)); // throws if the HTTP API would load fastify at start
      const kinds: Kind[] = ['fieldgate', 'aedes_coap', ...(mosquittoInstalled() ? (['mosquitto'] as const) : []), 'node_floor', 'fieldgate_http_on'];
      const runs = await alternate(ROUNDS, kinds, (k) => sample(k, dir));
      const settled = SETTLED_MS ? await settledRss(dir) : undefined;
      const sc = 'footprint';
      const xs = (k: Kind, f: (s: Sample) => number) => (runs.get(k) ?? []).map(f);
      const idle = (s: Sample) => s.idle.rss / 1024;
      const anon = (s: Sample) => s.idle.anon / 1024;
      const fileBacked = (s: Sample) => (s.idle.rss - s.idle.anon) / 1024;
      const per = (s: Sample) => s.perConnKb;
      const out: Result[] = [
        row(sc, 'idle_rss_fieldgate_vs_aedes_coap', 'MB', xs('fieldgate', idle), { xs: xs('aedes_coap', idle), means: 'fieldgate bundle idle RSS / bare aedes + node-coap idle RSS (same V8 flags); lower is better; target: fieldgate <= 45 MB' }),
        row(sc, 'idle_rss_fieldgate_vs_node_floor', 'MB', xs('fieldgate', idle), { xs: xs('node_floor', idle), means: 'fieldgate bundle idle RSS / an empty node process under the same flags (the floor of any Node.js server, mostly the node binary\'s own pages)' }),
        row(sc, 'idle_private_rss_fieldgate_vs_aedes_coap', 'MB', xs('fieldgate', anon), { xs: xs('aedes_coap', anon), means: 'RssAnon (VmRSS without the file pages of node and its libraries): fieldgate / bare aedes + node-coap; lower is better' }),
        row(sc, 'idle_private_rss_fieldgate_vs_node_floor', 'MB', xs('fieldgate', anon), { xs: xs('node_floor', anon), means: 'RssAnon: fieldgate / an empty node process under the same flags' }),
        row(sc, `rss_per_idle_conn_at_${CONNS}_fieldgate_vs_aedes_coap`, 'KB', xs('fieldgate', per), { xs: xs('aedes_coap', per), means: `fieldgate (RSS with ${CONNS} idle clients - idle RSS) / ${CONNS} over the same for bare aedes + node-coap, each idle sample taken after one warm-up client's CONNACK (so mqtt-packet's one-time number cache is in both idle figures, not in the per-connection delta); lower is better; target: fieldgate <= 6 KB at 5,000` }),
        // What the gateway itself adds, split: the 45 MB target leaves it 45 MB less the floor.
        row(sc, 'idle_rss_fieldgate_minus_node_floor', 'MB', xs('fieldgate', idle).map((v, i) => v - (xs('node_floor', idle)[i] ?? NaN))),
        row(sc, 'idle_file_rss_fieldgate_vs_node_floor', 'MB', xs('fieldgate', fileBacked), { xs: xs('node_floor', fileBacked), means: "file pages (VmRSS - RssAnon: the node binary's and its libraries' code and data the process touched): fieldgate / an empty node; shared and clean, the kernel can drop them" }),
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
      out.push(
        row(sc, 'idle_rss_fieldgate_http_on_vs_off', 'MB', xs('fieldgate_http_on', idle), { xs: xs('fieldgate', idle), means: 'fieldgate idle RSS with the HTTP API on (the shipped default; fastify not loaded until a request) / with it off; target: on - off <= 8 MB' }),
        row(sc, 'rss_fieldgate_http_on_after_first_request_vs_off', 'MB', xs('fieldgate_http_on', (s) => s.afterFirstRequest!.rss / 1024), { xs: xs('fieldgate', idle), means: `fieldgate RSS with the HTTP API on, ${SETTLE_MS / 1000} s after its first GET /api/v5/status (which loads fastify and the routes) / idle with it off` }),
        row(sc, 'startup_to_listening_fieldgate_vs_aedes_coap', 'ms', xs('fieldgate', (s) => s.startMs), { xs: xs('aedes_coap', (s) => s.startMs), means: 'fieldgate bundle spawn-to-MQTT-listening / bare aedes + node-coap spawn-to-listening; lower is better' }),
      );
      if (settled) {
        out.push(
          row(sc, `idle_rss_fieldgate_after_${SETTLED_MS / 1000}s_vs_node_floor`, 'MB', [settled.rss / 1024], { xs: xs('node_floor', idle), means: `fieldgate bundle RSS ${SETTLED_MS / 1000} s after it started (after V8's memory reducer), one sample / an empty node process; target: fieldgate <= 45 MB` }),
          row(sc, `idle_private_rss_fieldgate_after_${SETTLED_MS / 1000}s`, 'MB', [settled.anon / 1024]),
        );
      }
      for (const rt of runtimes(dir)) out.push(...(await startupRows(sc, rt, dir)));
      // Sizes: the bundle (entry and chunks; a start reads only the chunks it imports), and the arm64 tarball a Pi downloads.
      const host: Arch = (ARCHES as readonly string[]).includes(process.arch) ? (process.arch as Arch) : 'x64';
      const built = await buildRelease({ out: join(dir, 'dist'), arches: host === 'arm64' ? ['arm64'] : ['arm64', host] });
      const kib = (n: number) => Math.round(n / 1024);
      out.push(
        { scenario: sc, metric: 'bundle_size', value: kib(built.bundleBytes), unit: 'KiB' },
        { scenario: sc, metric: 'bundle_entry_size', value: kib(statSync(built.bundle).size), unit: 'KiB' },
        { scenario: sc, metric: 'bundle_chunks', value: built.chunks, unit: 'files' },
        { scenario: sc, metric: 'http_api_chunks_loaded_at_start', value: http.startKiB, unit: 'KiB' },
        { scenario: sc, metric: 'http_api_chunks_loaded_by_first_request', value: http.firstRequestKiB, unit: 'KiB' },
        { scenario: sc, metric: 'tarball_size_linux_arm64', value: kib(statSync(built.tarballs.find((t) => t.arch === 'arm64')!.path).size), unit: 'KiB' },
      );
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
