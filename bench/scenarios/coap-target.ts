// Not a scenario: the CoAP servers the coap-* scenarios measure, each in a child process so its RSS
// is its own and it does not share an event loop with the load generator, plus that generator.
// Importing this module does nothing unless FIELDGATE_COAP_BENCH_CHILD is set.
import { createSocket, type Socket } from 'node:dgram';
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generate } from 'coap-packet';
import { startInProcessGateway } from '../in-process-gateway.ts';

const here = fileURLToPath(import.meta.url);
const repo = resolve(dirname(here), '..', '..');

/**
 * gateway: fieldgate with the CoAP adapter (on the engine); bare: node-coap with its defaults and
 * a no-op 2.04 handler; engine: the engine alone (adapters/lib/coap) with the same no-op handler;
 * bare-aedes: node-coap with its defaults publishing each POST into a bare aedes at QoS 1 and
 * answering 2.04 once aedes has taken it (what a gateway without fieldgate's care would be).
 */
export type TargetKind = 'gateway' | 'bare' | 'engine' | 'bare-aedes';
type Request = { id: number; cmd: 'mem' | 'metrics' | 'stop' };

function procMem(): { rss: number; hwm: number; heapUsed: number } {
  // Collect first, so heapUsed is what is retained rather than garbage not yet collected.
  (globalThis as { gc?: () => void }).gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM'), heapUsed: process.memoryUsage().heapUsed };
}

async function child(kind: TargetKind, coapCfg: Record<string, unknown>): Promise<void> {
  let port: number;
  let metrics: () => Record<string, number> = () => ({});
  let stop: () => Promise<void>;
  if (kind === 'bare' || kind === 'bare-aedes') {
    // node-coap with its defaults. Its socket is bound here and handed to listen(), the public
    // seam, so the port is known without reaching into the server.
    const { createServer } = await import('coap');
    const { Aedes } = await import('aedes');
    const broker = kind === 'bare-aedes' ? new Aedes() : undefined;
    if (broker) await broker.listen();
    const server = createServer((req, res) => {
      if (!broker) {
        res.code = '2.04';
        res.end();
        return;
      }
      const topic = (req.url ?? '/').split('?')[0]!.replace(/^\/ps\//, '');
      broker.publish({ cmd: 'publish', topic, payload: req.payload, qos: 1, retain: false, dup: false }, () => {
        res.code = '2.04';
        res.end();
      });
    });
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    server.listen(sock);
    port = sock.address().port;
    stop = async () => {
      server.close();
      sock.close();
      if (broker) await new Promise<void>((r) => broker.close(() => r()));
    };
  } else if (kind === 'engine') {
    const { CoapEndpoint, bindUdp } = await import('../../adapters/lib/coap/index.ts');
    const sock = await bindUdp('udp4', 0, '127.0.0.1');
    const ep = new CoapEndpoint(sock, { id: 'udp4', handler: (_req, respond) => respond({ code: '2.04' }) });
    port = sock.address().port;
    metrics = () => ({ 'dedup/entries': ep.stats().dedup });
    stop = async () => {
      ep.close();
      sock.close();
    };
  } else {
    const { coapAdapter } = await import('../../adapters/coap/index.ts');
    const { gw, stop: stopGateway } = await startInProcessGateway(coapAdapter, { ipv6: { enabled: false }, ...coapCfg }, { auth: { allow_anonymous: 'always', acl_nomatch: 'allow' } });
    metrics = () => gw.metrics.snapshot();
    port = gw.adapterPorts('coap').udp!;
    stop = stopGateway;
  }
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (req: Request) => {
    if (req.cmd === 'mem') send({ id: req.id, ...procMem() });
    else if (req.cmd === 'metrics') send({ id: req.id, metrics: metrics() });
    else if (req.cmd === 'stop') {
      void stop().then(() => {
        send({ id: req.id });
        process.exit(0);
      });
    }
  });
  send({ ready: true, port });
}

export interface CoapTarget {
  port: number;
  mem(): Promise<{ rss: number; hwm: number; heapUsed: number }>;
  metrics(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

let bundled: Promise<string> | undefined;

/**
 * This module bundled by esbuild (npm packages left external), as the release runs: under tsx the
 * loader's worker thread alone adds ~50 MB of RSS, which would swamp what the adapter costs.
 */
function bundle(): Promise<string> {
  bundled ??= (async () => {
    const { build } = await import('esbuild');
    const out = join(repo, '.tmp', 'bench', 'coap-target.mjs');
    await build({ entryPoints: [here], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', logLevel: 'silent' });
    return out;
  })();
  return bundled;
}

/**
 * Starts a bare node-coap server or a gateway with the CoAP adapter in a child process, from the
 * bundle (BENCH_COAP_TSX=1 runs the sources through tsx instead).
 */
export async function spawnCoapTarget(kind: TargetKind, coapCfg: Record<string, unknown> = {}): Promise<CoapTarget> {
  const tsx = process.env.BENCH_COAP_TSX === '1';
  const proc: ChildProcess = fork(tsx ? here : await bundle(), [], {
    cwd: repo,
    // BENCH_COAP_PROFILE=dir writes a V8 CPU profile of the target there, to see where time goes.
    execArgv: ['--expose-gc', ...(tsx ? ['--import', 'tsx'] : []), ...(process.env.BENCH_COAP_PROFILE ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_COAP_PROFILE}`] : [])],
    env: { ...process.env, FIELDGATE_COAP_BENCH_CHILD: kind, FIELDGATE_COAP_BENCH_CFG: JSON.stringify(coapCfg) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ port: number }>((res, rej) => {
    proc.once('error', rej);
    proc.once('exit', (code) => rej(new Error(`CoAP bench target (${kind}) exited with ${code} before it was ready`)));
    proc.once('message', (m) => res(m as { port: number }));
  });
  proc.removeAllListeners('exit');
  let seq = 0;
  const call = <T>(cmd: Request['cmd']): Promise<T> =>
    new Promise((res) => {
      const id = ++seq;
      const on = (m: { id?: number }) => {
        if (m.id !== id) return;
        proc.off('message', on);
        res(m as T);
      };
      proc.on('message', on);
      proc.send({ id, cmd });
    });
  return {
    port: ready.port,
    mem: () => call('mem'),
    metrics: async () => (await call<{ metrics: Record<string, number> }>('metrics')).metrics,
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      await Promise.race([call('stop').then(() => exited), new Promise((r) => setTimeout(r, 5000))]);
      proc.kill();
    },
  };
}

/** 127.0.0.2, 127.0.0.3, ... (127.0.0.1 is the target's own). */
export function loopbackAddress(i: number): string {
  const idx = i + 1;
  const rest = Math.floor(idx / 254);
  return `127.${(rest >> 8) & 0xff}.${rest & 0xff}.${(idx % 254) + 1}`;
}

export interface LoadResult {
  sent: number;
  answered: number;
  codes: Record<string, number>;
  seconds: number;
}

/**
 * A lean CON POST generator: `sockets` source ports, each keeping `window` requests in flight
 * until `total` are answered (or `deadlineMs` passes). One sweep timer retransmits requests
 * unanswered for 2 s (RFC 7252's ACK_TIMEOUT), so a dropped datagram costs time, not the run.
 * With `window: 0` it floods instead: every request is sent once, paced in batches, never retried.
 */
export async function coapLoad(o: { port: number; sockets: number; window: number; total: number; deadlineMs: number; path?: (i: number) => string; batch?: number; addresses?: boolean }): Promise<LoadResult> {
  const codes: Record<string, number> = {};
  const socks: Socket[] = [];
  for (let i = 0; i < o.sockets; i++) {
    const s = createSocket('udp4');
    // addresses: each socket its own loopback address (127.0.0.2 ...), as separate devices are.
    await new Promise<void>((r) => s.bind(0, o.addresses ? loopbackAddress(i) : '127.0.0.1', () => r()));
    socks.push(s);
  }
  const pathOf = o.path ?? ((i: number) => `bench/${i % 100}`);
  const frame = (mid: number, i: number) =>
    generate({ code: 'POST', confirmable: true, messageId: mid, token: Buffer.from([mid >> 8, mid & 0xff]), options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, ...pathOf(i).split('/').map((p) => ({ name: 'Uri-Path' as const, value: Buffer.from(p) })), { name: 'Uri-Query', value: Buffer.from(`c=bench${i % o.sockets}`) }], payload: Buffer.from('{"t":21.5}') });
  let sent = 0;
  let answered = 0;
  const start = process.hrtime.bigint();
  const outstanding = socks.map(() => new Map<number, { buf: Buffer; at: number }>());
  let finish!: () => void;
  const done = new Promise<void>((r) => (finish = r));
  const next = (k: number) => {
    if (sent >= o.total) return;
    const i = sent++;
    const mid = (i * 7 + k) & 0xffff;
    const buf = frame(mid, i);
    if (o.window > 0) outstanding[k]!.set(mid, { buf, at: Date.now() });
    socks[k]!.send(buf, o.port, '127.0.0.1');
  };
  socks.forEach((s, k) =>
    s.on('message', (m) => {
      if (m.length < 4) return;
      const code = `${m[1]! >> 5}.${String(m[1]! & 31).padStart(2, '0')}`;
      if (code === '0.00') return; // an empty ACK: the response follows separately
      const mid = m.readUInt16BE(2);
      if (o.window > 0 && (m[0]! & 0x30) === 0x20 && !outstanding[k]!.delete(mid)) return; // duplicate
      if ((m[0]! & 0x30) === 0) s.send(generate({ code: '0.00', messageId: mid, ack: true }), o.port, '127.0.0.1'); // separate CON response
      answered++;
      codes[code] = (codes[code] ?? 0) + 1;
      if (answered >= o.total) finish();
      else if (o.window > 0) next(k);
    }),
  );
  const retry = setInterval(() => {
    const now = Date.now();
    outstanding.forEach((m, k) => {
      for (const [, r] of m) if (now - r.at > 2000) {
        r.at = now;
        socks[k]!.send(r.buf, o.port, '127.0.0.1');
      }
    });
  }, 250);
  const deadline = setTimeout(finish, o.deadlineMs);
  if (o.window > 0) {
    for (let w = 0; w < o.window; w++) socks.forEach((_, k) => next(k));
  } else {
    const batch = o.batch ?? 500;
    while (sent < o.total) {
      for (let b = 0; b < batch && sent < o.total; b++) next(sent % o.sockets);
      await new Promise((r) => setTimeout(r, 5));
    }
    // Give the last replies a moment, then stop waiting for ones the flood lost.
    setTimeout(finish, 3000);
  }
  await done;
  clearInterval(retry);
  clearTimeout(deadline);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  for (const s of socks) s.close();
  return { sent, answered, codes, seconds };
}

if (process.env.FIELDGATE_COAP_BENCH_CHILD) {
  await child(process.env.FIELDGATE_COAP_BENCH_CHILD as TargetKind, JSON.parse(process.env.FIELDGATE_COAP_BENCH_CFG ?? '{}'));
}
