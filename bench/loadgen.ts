import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

// The MQTT load generator every broker/bridge scenario drives its servers with, in its own
// process: bench/loadgen/loadgen.c on libmosquitto, built here into .cache/bench/ when `cc` and
// <mosquitto.h> are present (apt: gcc libmosquitto-dev), else the same program on MQTT.js
// (bench/loadgen/loadgen-mqttjs.ts, bundled by esbuild). Either prints its own CPU time, which
// scenarios report, so the generator's cost is on record next to the figures it produced.

const ROOT = join(import.meta.dirname, '..');
const CACHE = join(ROOT, '.cache', 'bench');
const C_SRC = join(ROOT, 'bench', 'loadgen', 'loadgen.c');
const JS_SRC = join(ROOT, 'bench', 'loadgen', 'loadgen-mqttjs.ts');

export interface Generator {
  kind: 'c-libmosquitto' | 'mqtt.js';
  argv: string[];
}

const built = new Map<string, Promise<Generator>>();

function buildC(): string | undefined {
  const header = ['/usr/include/mosquitto.h', '/usr/local/include/mosquitto.h'].some((h) => existsSync(h));
  if (!header) return undefined;
  const bin = join(CACHE, 'loadgen');
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(C_SRC).mtimeMs) return bin;
  try {
    mkdirSync(CACHE, { recursive: true });
    execFileSync('cc', ['-O2', '-o', bin, C_SRC, '-lmosquitto', '-lpthread'], { stdio: ['ignore', 'ignore', 'pipe'] });
    return bin;
  } catch (err) {
    process.stderr.write(`bench: building the C load generator failed (${(err as Error).message.split('\n')[0]}); using MQTT.js\n`);
    return undefined;
  }
}

async function buildJs(): Promise<string> {
  const out = join(CACHE, 'loadgen-mqttjs.mjs');
  const { build } = await import('esbuild');
  await build({ entryPoints: [JS_SRC], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', logLevel: 'silent' });
  return out;
}

/**
 * The generator for this run: the C one when it builds, else MQTT.js (BENCH_LOADGEN=mqttjs, or
 * `prefer`, forces MQTT.js).
 */
export function generator(prefer?: 'mqttjs'): Promise<Generator> {
  const want = prefer ?? (process.env.BENCH_LOADGEN === 'mqttjs' ? 'mqttjs' : 'c');
  let g = built.get(want);
  if (!g) {
    g = (async (): Promise<Generator> => {
      const bin = want === 'mqttjs' ? undefined : buildC();
      const gen: Generator = bin ? { kind: 'c-libmosquitto', argv: [bin] } : { kind: 'mqtt.js', argv: [process.execPath, await buildJs()] };
      process.stderr.write(
        gen.kind === 'mqtt.js'
          ? `bench: load generator: MQTT.js in a child process (${want === 'mqttjs' ? 'asked for' : 'the C one did not build: apt-get install gcc libmosquitto-dev'}). It costs several times the CPU of the C one per message and shares the cores with the servers: read its generator_cpu rows, and expect every server to look slower\n`
          : `bench: load generator: ${bin} (C, libmosquitto)\n`,
      );
      return gen;
    })();
    built.set(want, g);
  }
  return g;
}

export type LoadgenOutput = Record<string, number | string>;

/** Runs the generator to completion (`pubsub` or `rate` mode) and returns its JSON line. */
export async function runLoadgen(args: string[], opts: { timeoutMs?: number; gen?: Generator } = {}): Promise<LoadgenOutput> {
  const g = opts.gen ?? (await generator());
  const timeoutMs = opts.timeoutMs ?? 10 * 60_000;
  const [cmd, ...pre] = g.argv;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const line = out.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) return reject(new Error(`loadgen ${args.join(' ')}: exit ${code ?? signal}: ${err.trim() || out.trim()}`));
      resolve(JSON.parse(line) as LoadgenOutput);
    });
  });
}

export interface IdleClients {
  count: number;
  stop(): Promise<void>;
}

/** `count` idle clients (each subscribed to devices/<id>/cmd, QoS 1), held until stop(). */
export async function idleClients(port: number, count: number, gen?: Generator): Promise<IdleClients> {
  const g = gen ?? (await generator());
  const [cmd, ...pre] = g.argv;
  const child = spawn(cmd!, [...pre, 'idle', '-p', String(port), '-C', String(count), '-T', '300'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve();
    });
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`loadgen idle exited (${code}) before ready: ${err.trim()}`)));
  });
  child.removeAllListeners('exit');
  return {
    count,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.stdin.end();
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
