import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Result } from '../result.ts';
import { row } from '../rounds.ts';

// The footprint scenario's HTTP API parts (footprint.ts): the HTTP API binds its port at start and
// builds fastify with its routes on the first request (gateway/http/listener.ts), so what a start
// no longer pays, the first request does. These measure that request, and check on the release
// bundle that fastify's code is not loaded at start at all.

/** CPU time of a process's main thread in ms (/proc/<pid>/task/<pid>/schedstat, ns on CPU). */
export function mainThreadCpuMs(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

export interface RequestCost {
  /** Wall time from sending `GET /api/v5/status` to its whole answer. */
  wallMs: number;
  /** The gateway's main-thread CPU time meanwhile. */
  cpuMs: number;
  /** When it was answered (performance.now()), and the gateway's main-thread CPU time by then. */
  endAt: number;
  cpuAtEndMs: number;
}

/** One `GET /api/v5/status` (loopback: no key needed) to a gateway, and what it cost the gateway. */
export async function statusRequest(pid: number, api: string): Promise<RequestCost> {
  const cpu0 = mainThreadCpuMs(pid);
  const t0 = performance.now();
  const res = await fetch(`${api}/api/v5/status?format=json`);
  const body = (await res.json()) as { broker_status?: string };
  const endAt = performance.now();
  const cpuAtEndMs = mainThreadCpuMs(pid);
  if (res.status !== 200 || body.broker_status !== 'started') throw new Error(`GET /api/v5/status answered ${res.status} ${JSON.stringify(body)}`);
  return { wallMs: endAt - t0, cpuMs: cpuAtEndMs - cpu0, endAt, cpuAtEndMs };
}

/** The HTTP API's address from the "fieldgate started" JSON line (its `http` field, before `msg`). */
export function apiFromStartedLine(out: string): string {
  const http = /"http":"(https?:\/\/[^"]+)"[^\n]*fieldgate started/.exec(out)?.[1];
  if (!http) throw new Error(`no HTTP API address in the "fieldgate started" line: ${out.slice(-500)}`);
  return http;
}

const sourcesOf = (lib: string, file: string) => (JSON.parse(readFileSync(join(lib, `${file}.map`), 'utf8')) as { sources: string[] }).sources;

/** A chunk and every chunk it imports statically: what one import() of it loads. */
function staticClosure(lib: string, first: string): string[] {
  const seen = new Set<string>();
  const queue = [first];
  while (queue.length) {
    const f = queue.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of readFileSync(join(lib, f), 'utf8').matchAll(/(?:from ?|import ?)"\.\/(fieldgate-[\w-]+\.mjs)"/g)) queue.push(m[1]!);
  }
  return [...seen];
}

export interface HttpChunks {
  /** What the HTTP API's component loads at start (its chunk and their static imports), KiB. */
  startKiB: number;
  /** The chunk with fastify and the routes, loaded by the first request, KiB. */
  firstRequestKiB: number;
}

/**
 * In the release bundle at `lib`: what the HTTP API loads at start and on the first request.
 * Throws if fastify is among what it loads at start (esbuild would put it in a chunk the component
 * imports statically if anything on that path imported it).
 */
export function httpChunks(lib: string): HttpChunks {
  const files = readdirSync(lib).filter((f) => /^fieldgate-.*\.mjs$/.test(f));
  const holding = (src: string) => files.filter((f) => sourcesOf(lib, f).some((s) => s.includes(src)));
  const [component] = holding('gateway/http/component.ts');
  const [routes] = holding('node_modules/fastify/fastify.js');
  if (!component || !routes) throw new Error(`the bundle in ${lib} has no chunk with the HTTP API's component or with fastify`);
  const atStart = staticClosure(lib, component);
  const early = atStart.filter((f) => sourcesOf(lib, f).some((s) => s.includes('node_modules/fastify/') || s.endsWith('gateway/http/server.ts')));
  if (early.length) throw new Error(`the HTTP API loads fastify at start: ${early.join(', ')} is imported statically by its component's chunk ${component}`);
  const kib = (fs: string[]) => Math.round(fs.reduce((n, f) => n + statSync(join(lib, f)).size, 0) / 1024);
  return { startKiB: kib(atStart), firstRequestKiB: kib(staticClosure(lib, routes).filter((f) => !atStart.includes(f))) };
}

/** A start with the HTTP API on, and its first two requests (footprint.ts). */
export interface FirstRequestStart {
  first?: RequestCost;
  second?: RequestCost;
  /** Wall time from spawn to the first request's answer. */
  firstAnsweredMs?: number;
}

/** HTTP API on: what the first request costs (it loads fastify and the routes), and start-up with it. */
export function firstRequestRows(sc: string, label: string, under: string, on: FirstRequestStart[], off: { cpuMs: number; readyMs: number }[]): Result[] {
  const toFirst = on.map((s) => s.first!.cpuAtEndMs);
  return [
    row(sc, `first_http_request_cpu_${label}`, 'ms', on.map((s) => s.first!.cpuMs), { xs: on.map((s) => s.second!.cpuMs), means: `${under}: the gateway's main-thread CPU time for the first GET /api/v5/status after start (it loads fastify and the routes) / for the second` }),
    row(sc, `first_http_request_wall_${label}`, 'ms', on.map((s) => s.first!.wallMs), { xs: on.map((s) => s.second!.wallMs), means: `${under}: wall time of the first GET /api/v5/status after start / of the second` }),
    row(sc, `startup_and_first_request_cpu_http_on_minus_off_${label}`, 'ms', toFirst.map((v, i) => v - off[i]!.cpuMs)),
    row(sc, `startup_and_first_request_cpu_http_on_vs_off_${label}`, 'ms', toFirst, { xs: off.map((s) => s.cpuMs), means: `${under}: main-thread CPU time from spawn to the first GET /api/v5/status answered (HTTP API on) / to "fieldgate started" (off): where the API's cost went` }),
    row(sc, `startup_wall_to_first_request_answered_http_on_vs_off_${label}`, 'ms', on.map((s) => s.firstAnsweredMs!), { xs: off.map((s) => s.readyMs), means: `${under}: wall time from spawn to the first GET /api/v5/status answered (on) / to "fieldgate started" (off)` }),
  ];
}
