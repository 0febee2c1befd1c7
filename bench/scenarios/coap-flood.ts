import type { Result, Scenario } from '../result.ts';
import { alternate, pick, row } from '../rounds.ts';
import { coapLoad, spawnCoapTarget, type TargetKind } from './coap-target.ts';

// A flood of 100,000 CON POST /ps/... from 1,000 devices, each its own loopback source address
// (127.0.0.2 ...), as fast as the generator can pace them, never retransmitted: the server
// process's peak RSS (VmHWM). Two servers take the same flood in this run, each in its own process:
//  - baseline: node-coap with its defaults publishing each request into a bare aedes (QoS 1) and
//    answering 2.04 once aedes took it, the obvious way to build this;
//  - gateway: fieldgate with the CoAP adapter and its default limits.
// The ratio is gateway peak RSS / baseline peak RSS (lower is better). A second pair takes the
// same flood with a no-op 2.04 handler: the CoAP engine alone (adapters/lib/coap) vs node-coap
// alone, the memory half of the measurement behind building the engine on coap-packet. With 1,000 addresses each
// sends ~100 requests, within the default per-address budget (100/s, burst 200), so the flood
// reaches the de-duplication state and the broker instead of being answered 4.29 at the door
// (rate_limited says how much was). Set BENCH_COAP_FLOOD_RATE=0 to switch the limit off.
// The four servers take ROUNDS alternated turns (A B C D, B C D A, ...); the peak RSS rows are
// medians with min-max, the other rows are from each server's last round.

const TOTAL = Number(process.env.BENCH_COAP_FLOOD_N ?? 100_000);
const DEVICES = Number(process.env.BENCH_COAP_FLOOD_DEVICES ?? 1000);
const ROUNDS = Number(process.env.BENCH_COAP_FLOOD_ROUNDS) || pick(1, 3);
const MB = 1024 * 1024;
const mb = (b: number) => Math.round((b / MB) * 10) / 10;

async function flood(kind: TargetKind, cfg: Record<string, unknown>) {
  const target = await spawnCoapTarget(kind, cfg);
  try {
    const idle = await target.mem();
    const r = await coapLoad({ port: target.port, sockets: DEVICES, addresses: true, window: 0, total: TOTAL, deadlineMs: 120_000, batch: 250, path: (i) => `flood/${i % 1000}` });
    const after = await target.mem();
    return { idle, after, r, m: await target.metrics() };
  } finally {
    await target.stop();
  }
}

export const scenario: Scenario = {
  name: 'coap-flood',
  description: `${TOTAL} CON requests from ${DEVICES} source addresses, ${ROUNDS} alternated round(s): peak RSS, gateway vs node-coap + aedes`,
  async run(): Promise<Result[]> {
    const rate = process.env.BENCH_COAP_FLOOD_RATE;
    const runs = await alternate(ROUNDS, ['bare-aedes', 'gateway', 'bare', 'engine'] as const, (kind) => flood(kind, kind === 'gateway' && rate !== undefined ? { limits: { rate: Number(rate) } } : {}));
    const last = (k: TargetKind) => runs.get(k)!.at(-1)!;
    const hwm = (k: TargetKind) => runs.get(k)!.map((f) => mb(f.after.hwm));
    const [base, gw, bare, engine] = [last('bare-aedes'), last('gateway'), last('bare'), last('engine')];
    const s = 'coap-flood';
    return [
      row(s, 'no-op peak_rss (engine / node-coap)', 'MB', hwm('engine'), { xs: hwm('bare'), means: 'peak RSS (VmHWM) of the CoAP engine alone with a no-op 2.04 handler / of bare node-coap with the same handler, same flood; lower is better' }),
      { scenario: s, metric: 'engine answered', value: engine.r.answered, unit: `of ${engine.r.sent}` },
      { scenario: s, metric: 'node-coap answered', value: bare.r.answered, unit: `of ${bare.r.sent}` },
      row(s, 'peak_rss (gateway / node-coap+aedes)', 'MB', hwm('gateway'), { xs: hwm('bare-aedes'), means: 'peak RSS (VmHWM) of fieldgate with the CoAP adapter and its default limits / of node-coap publishing into a bare aedes, same flood from the same addresses; lower is better' }),
      { scenario: s, metric: 'gateway idle_rss', value: mb(gw.idle.rss), unit: 'MB' },
      { scenario: s, metric: 'gateway heap_after', value: mb(gw.after.heapUsed), unit: 'MB' },
      { scenario: s, metric: 'gateway answered', value: gw.r.answered, unit: `of ${gw.r.sent}` },
      { scenario: s, metric: 'gateway 2.04', value: gw.r.codes['2.04'] ?? 0, unit: 'responses' },
      { scenario: s, metric: 'gateway rate_limited', value: gw.m['adapters/coap/rate_limited'] ?? 0, unit: 'requests' },
      { scenario: s, metric: 'gateway dedup_entries', value: gw.m['adapters/coap/dedup/entries'] ?? 0, unit: 'exchanges' },
      { scenario: s, metric: 'gateway duration', value: Math.round(gw.r.seconds * 10) / 10, unit: 's' },
      { scenario: s, metric: 'baseline idle_rss', value: mb(base.idle.rss), unit: 'MB' },
      { scenario: s, metric: 'baseline heap_after', value: mb(base.after.heapUsed), unit: 'MB' },
      { scenario: s, metric: 'baseline answered', value: base.r.answered, unit: `of ${base.r.sent}` },
      { scenario: s, metric: 'baseline duration', value: Math.round(base.r.seconds * 10) / 10, unit: 's' },
    ];
  },
};
