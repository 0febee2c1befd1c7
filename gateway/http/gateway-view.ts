import type { Registry } from 'prom-client';
import type { AdapterHealth } from '../app/supervisor.ts';
import { VERSION } from '../app/version.ts';
import type { AuthService } from '../auth/service.ts';
import type { Bridge } from '../bridge/bridge.ts';
import type { Broker } from '../broker/broker.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { DeviceRegistry } from '../registry/registry.ts';
import { ClientTracker } from './clients.ts';
import { exposition } from './prom-text.ts';
import type { BridgeUpstreamStatus, OpsView } from './view.ts';

const DROP = /^bridge\/dropped\/(.+)$/;

/** The parts of the running gateway the management plane reads (the Gateway has them all). */
export interface GatewayParts {
  broker: Broker;
  auth: AuthService;
  registry: DeviceRegistry;
  metrics: Metrics;
  bridge: Bridge;
  health(): AdapterHealth[];
}

/** Process metrics (CPU, memory, event loop, GC): prom-client's, created on the first scrape. */
let processRegistry: Promise<Registry> | undefined;
function processMetrics(): Promise<Registry> {
  processRegistry ??= import('prom-client').then(({ Registry, collectDefaultMetrics }) => {
    const r = new Registry();
    collectDefaultMetrics({ register: r });
    return r;
  });
  return processRegistry;
}

/** The management plane's view of a running gateway, from its public members only. */
export function viewOf(gw: GatewayParts, opts: { node: string; maxPacketSize: number }): OpsView {
  const startedAt = Date.now();
  const clients = new ClientTracker(gw.broker);
  return {
    node: opts.node,
    version: VERSION,
    startedAt,
    maxPacketSize: opts.maxPacketSize,
    adapters: () => gw.health(),
    bridge: () => bridgeStatus(gw),
    devices: (protocol) => gw.registry.list(protocol),
    clients,
    snapshot: () => gw.metrics.snapshot(),
    metrics: async () => {
      const proc = await processMetrics();
      return { contentType: proc.contentType, text: exposition(gw.metrics.snapshot()) + (await proc.metrics()) };
    },
    authorize: (p, action, topic) => gw.auth.authorize(p, action, topic),
    publish: (msg) => gw.broker.publish(msg),
    subscribe: (filter, onMessage) => gw.broker.subscribe(filter, onMessage),
  };
}

function bridgeStatus(gw: GatewayParts): BridgeUpstreamStatus[] {
  const m = gw.metrics.snapshot();
  const dropped: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    const d = DROP.exec(k);
    if (d?.[1]) dropped[d[1]] = v;
  }
  return gw.bridge.health().map((u) => ({
    name: u.name,
    connected: u.connected,
    server: u.server ?? null,
    last_error: u.error ?? null,
    // One log is shared by every upstream: depth and age are the log's, not per upstream.
    queue: { messages: m['bridge/queue/messages'] ?? 0, bytes: m['bridge/queue/bytes'] ?? 0, oldest_age_ms: m['bridge/queue/oldest_age_ms'] ?? 0 },
    inflight: m[`bridge/upstreams/${u.name}/inflight`] ?? 0,
    forwarded: m[`bridge/upstreams/${u.name}/forwarded`] ?? 0,
    dropped,
    log_bytes_written: m['bridge/log/bytes_written'] ?? 0,
    log_syncs: m['bridge/log/syncs'] ?? 0,
  }));
}
