import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MqttClient } from 'mqtt';
import { ARCHES, buildRelease, type Arch } from '../../deploy/build.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { mqttClient } from '../load.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';

// What a Raspberry Pi owner pays to run fieldgate: the release bundle's start-up time to
// listening (against running the TypeScript sources through tsx, measured in the same run), its
// idle RSS, its RSS with 1,000 connected MQTT clients, and the bundle and tarball sizes.
// Targets on this machine (issue 7): start-up under 300 ms, idle RSS under 60 MB. The HTTP API
// (issue 16) is measured on and off in the same run: it may add at most 8 MB idle RSS and 50 ms of
// start-up. Targets are printed next to the numbers, never asserted: these machines are too noisy.

const RUNS = Number(process.env.BENCH_FOOTPRINT_RUNS ?? 5);
const CLIENTS = Number(process.env.BENCH_FOOTPRINT_CLIENTS ?? 1000);
const MAIN_TS = fileURLToPath(new URL('../../gateway/cli/main.ts', import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** VmRSS of a process in MB, from /proc (Linux). */
function rssMbOf(pid: number): number {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return Math.round((kb / 1024) * 10) / 10;
}

interface Running {
  child: ChildProcess;
  ms: number;
  port: number;
  /** The "fieldgate started" log line. */
  line: string;
}

/** Spawns the gateway and resolves when it logs "fieldgate started": the time to listening. */
function startGateway(args: string[]): Promise<Running> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '' } });
    let out = '';
    let err = '';
    child.stderr!.on('data', (d) => (err += d));
    child.stdout!.on('data', (d) => {
      out += d;
      const line = out.split('\n').find((l) => l.includes('fieldgate started'));
      if (!line) return;
      child.stdout!.removeAllListeners('data');
      child.stdout!.resume();
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      const url = (JSON.parse(line) as { listeners: string[] }).listeners[0];
      resolve({ child, ms, port: Number(url!.slice(url!.lastIndexOf(':') + 1)), line });
    });
    child.once('exit', (code) => reject(new Error(`gateway exited (${code}) before listening: ${out}${err}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve();
    child.removeAllListeners('exit');
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

async function startupMs(args: string[]): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const g = await startGateway(args);
    times.push(g.ms);
    await stop(g.child);
  }
  return Math.round(median(times));
}

/** Connects `count` clients into `clients` (so a caller can end those connected before a failure). */
async function connectMany(port: number, count: number, clients: MqttClient[]): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, count - i) }, async (_, j) => {
        const c = await mqttClient(`mqtt://127.0.0.1:${port}`, { clientId: `fp-${i + j}`, keepalive: 60 });
        // Like a device waiting for commands.
        await c.subscribeAsync(`devices/fp-${i + j}/cmd`, { qos: 1 });
        return c;
      }),
    );
    clients.push(...batch);
  }
}

/** Idle RSS with the HTTP API on, and after the page and one /metrics scrape were served. */
async function httpIdle(args: string[]): Promise<{ idle: number; used: number }> {
  const g = await startGateway(args);
  try {
    await new Promise((r) => setTimeout(r, 2000));
    const idle = rssMbOf(g.child.pid!);
    const url = /"http":"(http:\/\/[^"]+)"/.exec(g.line)?.[1];
    if (!url) throw new Error(`no http URL in the start line: ${g.line}`);
    for (const path of ['/', '/app.js', '/style.css', '/api/v5/summary', '/metrics']) {
      const res = await fetch(`${url}${path}`);
      if (!res.ok) throw new Error(`GET ${path}: ${res.status}`);
      await res.arrayBuffer();
    }
    await new Promise((r) => setTimeout(r, 2000));
    return { idle, used: rssMbOf(g.child.pid!) };
  } finally {
    await stop(g.child);
  }
}

export const scenario: Scenario = {
  name: 'footprint',
  description: `release bundle, MQTT core with adapters off: start-up to listening (median of ${RUNS}) vs tsx sources, idle RSS, RSS with ${CLIENTS} MQTT clients, sizes, and the same with the HTTP API on; targets here: start-up < 300 ms, idle RSS < 60 MB, HTTP API <= 8 MB and <= 50 ms more`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-footprint-'));
    try {
      // Run the release tree built for this machine (lib/fieldgate.mjs with its native addons beside
      // it, as installed), and report the arm64 tarball's size.
      const host: Arch = (ARCHES as readonly string[]).includes(process.arch) ? (process.arch as Arch) : 'x64';
      const built = await buildRelease({ out: join(dir, 'dist'), arches: host === 'arm64' ? ['arm64'] : ['arm64', host] });
      const entry = join(built.tarballs.find((t) => t.arch === host)!.path.replace(/\.tar\.gz$/, ''), 'lib', 'fieldgate.mjs');
      const config = join(dir, 'fieldgate.yaml');
      // The core (broker, registry, $SYS) with every adapter off: adapters' fixed ports (CoAP 5683)
      // may be taken on a shared machine, and each adapter's own cost is its own benchmark's job.
      writeFileSync(config, testConfigYaml(join(dir, 'data')));
      const httpConfig = join(dir, 'fieldgate-http.yaml');
      writeFileSync(httpConfig, testConfigYaml(join(dir, 'data-http'), { http: true, extra: 'http:\n  host: 127.0.0.1\n  port: 0\n' }));
      const bundleArgs = [entry, 'start', '--config', config];
      const httpArgs = [entry, 'start', '--config', httpConfig];
      const tsArgs = ['--import', 'tsx', MAIN_TS, 'start', '--config', config];

      const bundleMs = await startupMs(bundleArgs);
      const httpMs = await startupMs(httpArgs);
      const tsMs = await startupMs(tsArgs);
      const http = await httpIdle(httpArgs);

      const g = await startGateway(bundleArgs);
      const clients: MqttClient[] = [];
      let idle: number, loaded: number;
      try {
        await new Promise((r) => setTimeout(r, 2000));
        idle = rssMbOf(g.child.pid!);
        await connectMany(g.port, CLIENTS, clients);
        await new Promise((r) => setTimeout(r, 2000));
        loaded = rssMbOf(g.child.pid!);
      } finally {
        // Also when connecting fails half-way: never leave the gateway (or its clients) running.
        await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
        await stop(g.child);
      }

      const kib = (n: number) => Math.round(n / 1024);
      const s = 'footprint';
      return [
        withRatio({ scenario: s, metric: 'startup_to_listening_bundle', value: bundleMs, unit: 'ms', baseline: tsMs }),
        withRatio({ scenario: s, metric: 'startup_to_listening_bundle_http_on (ratio: vs http off)', value: httpMs, unit: 'ms', baseline: bundleMs }),
        { scenario: s, metric: 'http_listener_startup_cost (target <= 50)', value: httpMs - bundleMs, unit: 'ms' },
        { scenario: s, metric: 'startup_to_listening_tsx_sources', value: tsMs, unit: 'ms' },
        { scenario: s, metric: 'idle_rss_bundle', value: idle, unit: 'MB' },
        withRatio({ scenario: s, metric: 'idle_rss_bundle_http_on (ratio: vs http off)', value: http.idle, unit: 'MB', baseline: idle }),
        { scenario: s, metric: 'http_listener_idle_rss_cost (target <= 8)', value: Math.round((http.idle - idle) * 10) / 10, unit: 'MB' },
        withRatio({ scenario: s, metric: 'rss_http_on_after_page_and_metrics (ratio: vs http off idle)', value: http.used, unit: 'MB', baseline: idle }),
        withRatio({ scenario: s, metric: `rss_with_${CLIENTS}_mqtt_clients`, value: loaded, unit: 'MB', baseline: idle }),
        { scenario: s, metric: `rss_per_1000_mqtt_clients`, value: Math.round(((loaded - idle) * 1000) / CLIENTS * 10) / 10, unit: 'MB' },
        { scenario: s, metric: 'bundle_size', value: kib(built.bundleBytes), unit: 'KiB' },
        { scenario: s, metric: 'tarball_size_linux_arm64', value: kib(statSync(built.tarballs.find((t) => t.arch === 'arm64')!.path).size), unit: 'KiB' },
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
