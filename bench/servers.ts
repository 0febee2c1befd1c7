import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { builtinAdapters } from '../gateway/app/adapters.ts';
import { freePort, MOSQUITTO } from '../gateway/bridge/test/mosquitto.ts';
import { RawClient } from '../gateway/test/raw-mqtt.ts';
import { gatewayCommand, PI_NODE_ARGS } from './scenarios/bridge-process.ts';

// The servers the broker, latency and footprint scenarios put side by side, each in its own
// process so that its CPU and RSS are its own: fieldgate's release bundle, bare aedes (+ node-coap)
// and Mosquitto. The Node ones run under the systemd unit's V8 flags (PI_NODE_ARGS), both of them:
// what a Pi runs, and the same for the baseline.

const ROOT = join(import.meta.dirname, '..');

export interface Server {
  name: string;
  port: number;
  pid: number;
  /** The command and flags it runs with, for the output. */
  how: string;
  stop(): Promise<void>;
}

/** VmRSS of a process in kB, from /proc (Linux). */
export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
}

/** CPU seconds a process (or, with `tid`, one of its threads) has used (utime + stime from /proc, Linux; 100 ticks a second). */
export function cpuSeconds(pid: number, tid?: number): number {
  const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

/** One client that connects (the server writes its CONNACK) and leaves: a server that has written a packet (footprint's idle samples). */
export async function warmUp(port: number): Promise<void> {
  const { client, code } = await RawClient.connect(port, { clientId: 'bench-warm-up' });
  client.end();
  if (code !== 0) throw new Error(`the warm-up client was refused with CONNACK ${code}`);
}

export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Whether `mosquitto` runs here (it is a baseline only when installed). */
export function mosquittoInstalled(): boolean {
  // `mosquitto -h` prints its usage and exits 3; a missing binary is an ENOENT error.
  return !spawnSync(MOSQUITTO, ['-h'], { stdio: 'ignore' }).error;
}

/** `sh -c 'ulimit -n N; exec ...'`: the child gets N file descriptors when the hard limit allows. */
function withFdLimit(fds: number | undefined, argv: string[]): string[] {
  if (!fds) return argv;
  return ['/bin/sh', '-c', 'ulimit -n "$0" 2>/dev/null || ulimit -n hard 2>/dev/null; exec "$@"', String(fds), ...argv];
}

function track(name: string, child: ChildProcess, port: number, how: string): Server {
  return {
    name,
    port,
    pid: child.pid!,
    how,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}

async function listening(name: string, child: ChildProcess, port: number, stderr: () => string): Promise<void> {
  const start = Date.now();
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}: ${stderr()}`);
    if (Date.now() - start > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`${name} did not listen on ${port}: ${stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(child: ChildProcess): () => string {
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  return () => err;
}

/**
 * Mosquitto with `lines` after the listener (limits, a bridge), logging off, and TCP_NODELAY on:
 * with its default (Nagle on) each PUBACK waits ~1 ms on this machine (p50 1.0-1.1 ms against
 * 0.09-0.12 ms with it), which would make the anchor look slower than Mosquitto can be.
 */
export async function startMosquitto(dir: string, name: string, lines: string[], fds?: number): Promise<Server> {
  const port = await freePort();
  const conf = join(dir, `mosquitto-${port}.conf`);
  const all = [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'log_dest none', 'set_tcp_nodelay true', ...lines];
  // Run as root, mosquitto drops to the "mosquitto" user; stay as the bench's user.
  if (process.getuid?.() === 0) all.push('user root');
  writeFileSync(conf, `${all.join('\n')}\n`);
  const argv = withFdLimit(fds, [MOSQUITTO, '-c', conf]);
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
  await listening(name, child, port, collect(child));
  return track(name, child, port, `mosquitto -c (${lines.join('; ') || 'defaults'})`);
}

let bareBundle: Promise<string> | undefined;

/** Bare aedes (and node-coap with `coap`), bundled, under the unit's V8 flags. */
export async function startBareAedes(name: string, opts: { coap?: boolean; fds?: number } = {}): Promise<Server & { coapPort: number }> {
  bareBundle ??= (async () => {
    const { build } = await import('esbuild');
    const out = join(ROOT, '.cache', 'bench', 'bare-aedes.mjs');
    await build({ entryPoints: [join(ROOT, 'bench', 'servers', 'bare-aedes.ts')], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', logLevel: 'silent' });
    return out;
  })();
  const argv = withFdLimit(opts.fds, [process.execPath, ...PI_NODE_ARGS, await bareBundle]);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, BARE_AEDES_COAP: opts.coap ? '1' : '0' } });
  const err = collect(child);
  const ports = await new Promise<{ mqtt: number; coap: number }>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(JSON.parse(out.split('\n')[0]!) as { mqtt: number; coap: number });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}): ${err()}`)));
  });
  child.removeAllListeners('exit');
  return { ...track(name, child, ports.mqtt, `node ${PI_NODE_ARGS.join(' ')} aedes${opts.coap ? ' + node-coap' : ''}`), coapPort: ports.coap };
}

export interface FieldgateOptions {
  /** YAML appended to the config (top-level sections other than `adapters`); default: the HTTP API off. */
  extra?: string;
  /** Adapters to turn on, each with its settings as a YAML flow map ("{ port: 0 }"); all others are off. */
  adapters?: Record<string, string>;
  fds?: number;
  nodeArgs?: string[];
  /** Another build's lib/fieldgate.mjs instead of this tree's bundle (a before/after comparison). */
  bundle?: string;
}

/** fieldgate's release bundle (what ships), under the unit's V8 flags, MQTT on a free port. */
export async function startFieldgate(dir: string, name: string, opts: FieldgateOptions = {}): Promise<Server> {
  const port = await freePort();
  const config = join(dir, `fieldgate-${port}.yaml`);
  const on = opts.adapters ?? {};
  const lines = builtinAdapters.map((a) => (on[a.name] ? `  ${a.name}: ${on[a.name]}\n` : `  ${a.name}: { enabled: false }\n`));
  const adapters = lines.length ? `adapters:\n${lines.join('')}` : '';
  writeFileSync(
    config,
    `gateway:\n  data_dir: ${join(dir, `data-${port}`)}\nlog: { level: warn, format: json }\nbroker: { listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }\n${opts.extra ?? 'http: { enabled: false }\n'}${adapters}`,
  );
  const cmd = opts.bundle ? { argv: [opts.bundle], kind: 'bundle' } : await gatewayCommand();
  const nodeArgs = opts.nodeArgs ?? PI_NODE_ARGS;
  const argv = withFdLimit(opts.fds, [process.execPath, ...nodeArgs, ...cmd.argv, 'start', '--config', config]);
  const child = spawn(argv[0]!, argv.slice(1), { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, NOTIFY_SOCKET: '' } });
  await listening(name, child, port, collect(child));
  return track(name, child, port, `node ${nodeArgs.join(' ')} ${cmd.kind}`);
}
