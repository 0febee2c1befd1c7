import type { Registry } from 'prom-client';
import type { GatewayControls, GatewayView } from '../app/component.ts';
import type { BridgeUpstreamStatus, OpsView } from './view.ts';

const DROP = /^bridge\/dropped\/(.+)$/;

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

/** The management plane's view of a running gateway: the component's view and controls, shaped for the routes. */
export function opsViewOf(gw: GatewayView, controls: GatewayControls): OpsView {
  return {
    node: gw.node,
    version: gw.version,
    startedAt: gw.startedAt,
    maxPacketSize: gw.maxPacketSize,
    adapters: () => gw.adapters(),
    components: () => gw.components(),
    bridge: () => bridgeStatus(gw),
    devices: (protocol) => gw.devices(protocol),
    clients: gw.clients,
    snapshot: () => gw.metrics.snapshot(),
    metrics: async () => {
      const proc = await processMetrics();
      const own = gw.metrics.registry;
      return { contentType: own.contentType, text: (await own.metrics()) + (await proc.metrics()) };
    },
    authorize: (p, action, topic) => gw.authorize(p, action, topic),
    publish: (msg) => controls.publish(msg),
    subscribe: (filter, onMessage) => gw.subscribe(filter, onMessage),
    restartAdapter: (name) => controls.restartAdapter(name),
    disconnectDevice: (protocol, id) => controls.disconnectDevice(protocol, id),
  };
}

function bridgeStatus(gw: GatewayView): BridgeUpstreamStatus[] {
  const m = gw.metrics.snapshot();
  const dropped: Record<string, number> = {};
  for (const [k, v] of Object.entries(m)) {
    const d = DROP.exec(k);
    if (d?.[1]) dropped[d[1]] = v;
  }
  return gw.bridge().map((u) => ({
    name: u.name,
    connected: u.connected,
    server: u.server ?? null,
    last_error: u.error ?? null,
    // One log is shared by every upstream: depth and age are the log's, not per upstream.
    queue: { messages: m['bridge/queue/messages'] ?? 0, bytes: m['bridge/queue/bytes'] ?? 0, oldest_age_ms: Math.round((m['bridge/queue/oldest_age_seconds'] ?? 0) * 1000) },
    inflight: m[`bridge/upstreams/${u.name}/inflight`] ?? 0,
    forwarded: m[`bridge/upstreams/${u.name}/forwarded`] ?? 0,
    dropped,
    log_bytes_written: m['bridge/log/bytes_written'] ?? 0,
    log_syncs: m['bridge/log/syncs'] ?? 0,
  }));
}
