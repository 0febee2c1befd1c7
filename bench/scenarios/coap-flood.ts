import { withRatio, type Result, type Scenario } from '../result.ts';
import { coapLoad, spawnCoapTarget } from './coap-target.ts';

// A flood of 100,000 CON POSTs from 1,000 source ports on 127.0.0.1 at the gateway with its
// default CoAP limits: the gateway process's peak RSS (VmHWM). Target (issue 5): < 150 MB. With
// node-coap's default cache a bare server grew to ~600 MB on this load. Bounded in count and in
// time (the run stops waiting after 120 s); how many requests were answered is reported too.
// The rate limit is per IP address, so with default limits most of this flood (one address) is
// answered 4.29: rate_limited says how much. Set BENCH_COAP_FLOOD_RATE=0 to push it all through
// to the de-duplication cache instead.

const TOTAL = Number(process.env.BENCH_COAP_FLOOD_N ?? 100_000);
const PORTS = Number(process.env.BENCH_COAP_FLOOD_PORTS ?? 1000);
const MB = 1024 * 1024;

export const scenario: Scenario = {
  name: 'coap-flood',
  description: `${TOTAL} CON requests from ${PORTS} source ports: gateway peak RSS`,
  async run(): Promise<Result[]> {
    const rate = process.env.BENCH_COAP_FLOOD_RATE;
    const target = await spawnCoapTarget('gateway', rate === undefined ? {} : { limits: { rate: Number(rate) } });
    try {
      const idle = await target.mem();
      const r = await coapLoad({ port: target.port, sockets: PORTS, window: 0, total: TOTAL, deadlineMs: 120_000, batch: 250, path: (i) => `flood/${i % 1000}` });
      const after = await target.mem();
      const m = await target.metrics();
      const mb = (b: number) => Math.round((b / MB) * 10) / 10;
      return [
        withRatio({ scenario: 'coap-flood', metric: 'peak_rss', value: mb(after.hwm), unit: 'MB', baseline: 150 }),
        { scenario: 'coap-flood', metric: 'idle_rss', value: mb(idle.rss), unit: 'MB' },
        { scenario: 'coap-flood', metric: 'peak_rss_growth', value: mb(after.hwm - idle.rss), unit: 'MB' },
        { scenario: 'coap-flood', metric: 'idle_heap', value: mb(idle.heapUsed), unit: 'MB' },
        { scenario: 'coap-flood', metric: 'heap_after', value: mb(after.heapUsed), unit: 'MB' },
        { scenario: 'coap-flood', metric: 'answered', value: r.answered, unit: `of ${r.sent}` },
        { scenario: 'coap-flood', metric: 'rate_limited', value: m['adapters/coap/rate_limited'] ?? 0, unit: 'requests' },
        { scenario: 'coap-flood', metric: 'dedup_entries', value: m['adapters/coap/dedup/entries'] ?? 0, unit: 'responses' },
        { scenario: 'coap-flood', metric: 'duration', value: Math.round(r.seconds * 10) / 10, unit: 's' },
      ];
    } finally {
      await target.stop();
    }
  },
};
