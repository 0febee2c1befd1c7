import { withRatio, type Result, type Scenario } from '../result.ts';
import { coapLoad, spawnCoapTarget, type TargetKind } from './coap-target.ts';

// CoAP CON POST /ps/{topic} -> 2.04 after the internal broker accepted the message, against a bare
// node-coap server whose handler answers 2.04 and does nothing else: same load generator, same
// run, each server in its own process. Target (issue 5): the gateway at >= 80% of the bare server.
// Also the CoAP engine alone (adapters/lib/coap) with the same no-op handler against bare
// node-coap: the measurement behind building the engine on coap-packet rather than node-coap.
// The per-peer rate limit is off here: the generator's 8 sockets stand for many devices.

const N = Number(process.env.BENCH_COAP_INGEST_N ?? 20_000);
const ROUNDS = Number(process.env.BENCH_COAP_INGEST_ROUNDS ?? 3);

async function measure(kind: TargetKind): Promise<number> {
  const target = await spawnCoapTarget(kind, { limits: { rate: 0 } });
  try {
    await coapLoad({ port: target.port, sockets: 8, window: 16, total: 2000, deadlineMs: 30_000 }); // warm-up (JIT)
    const r = await coapLoad({ port: target.port, sockets: 8, window: 16, total: N, deadlineMs: 120_000 });
    if (r.answered < N || (r.codes['2.04'] ?? 0) < N) throw new Error(`${kind}: ${r.answered} of ${N} answered (${JSON.stringify(r.codes)})`);
    return Math.round(r.answered / r.seconds);
  } finally {
    await target.stop();
  }
}

export const scenario: Scenario = {
  name: 'coap-ingest',
  description: `CoAP CON POST -> broker msg/s vs a bare coap server, ${N} requests, best of ${ROUNDS}`,
  async run(): Promise<Result[]> {
    let bare = 0;
    let gateway = 0;
    let engine = 0;
    // Alternate them so drift on a noisy machine hits all alike; keep each one's best round.
    for (let i = 0; i < ROUNDS; i++) {
      bare = Math.max(bare, await measure('bare'));
      engine = Math.max(engine, await measure('engine'));
      gateway = Math.max(gateway, await measure('gateway'));
    }
    return [
      withRatio({ scenario: 'coap-ingest', metric: 'con_post_to_broker (gateway / bare node-coap)', value: gateway, unit: 'msg/s', baseline: bare, means: `fieldgate CON POST -> 2.04 once the broker took it, msg/s / a bare node-coap answering 2.04 and doing nothing else (best of ${ROUNDS} alternated rounds each); higher is better; target >= 0.8` }),
      withRatio({ scenario: 'coap-ingest', metric: 'no-op 2.04 (engine / bare node-coap)', value: engine, unit: 'msg/s', baseline: bare, means: 'the CoAP engine alone (adapters/lib/coap) with a no-op 2.04 handler, msg/s / bare node-coap with the same handler; higher is better' }),
    ];
  },
};
