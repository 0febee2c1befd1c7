import type { Registry } from 'prom-client';
import type { GatewayControls, GatewayView } from '../app/component.ts';
import type { BridgeUpstreamStatus, GatewayListener, OpsView } from './view.ts';

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
    session: sessionBounds(gw),
    adapters: () => gw.adapters(),
    components: () => gw.components(),
    bridge: () => bridgeStatus(gw),
    devices: (protocol) => gw.devices(protocol),
    listeners: (name) => listenersOf(name, gw.adapterPorts(name), (gw.config().adapters as Record<string, AdapterSection> | undefined)?.[name]),
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

/** The Session Expiry Interval that means "never" (MQTT 5 section 3.1.2.11.2), which EMQX reports then. */
const NEVER = 0xffff_ffff;

/** The bounds the broker was built with: it reads them once, at start. */
function sessionBounds(gw: GatewayView): OpsView['session'] {
  const b = (gw.config().broker ?? {}) as { session_expiry_interval?: number; max_queued_messages?: number };
  const ms = b.session_expiry_interval ?? 0;
  return { expiry_interval: ms > 0 ? Math.round(ms / 1000) : NEVER, mqueue_max: b.max_queued_messages ?? 0 };
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

/** The host keys of an adapter's config section (adapters.coap, .lwm2m, .tcp) that its listeners bind. */
interface AdapterSection {
  host?: string;
  ipv6?: { host?: string };
  tls?: { host?: string };
}

/** EMQX's type, listener name and configured host of each kind of port an adapter reports. */
const KINDS: Record<string, { type: string; name: string; host(s: AdapterSection): string | undefined }> = {
  udp: { type: 'udp', name: 'default', host: (s) => s.host },
  udp6: { type: 'udp', name: 'ipv6', host: (s) => s.ipv6?.host },
  tcp: { type: 'tcp', name: 'default', host: (s) => s.host },
  tls: { type: 'ssl', name: 'default', host: (s) => s.tls?.host ?? s.host },
};

/** An adapter's bound ports (Adapter.ports()) as EMQX lists a gateway's listeners. */
export function listenersOf(adapter: string, ports: Record<string, number>, section: AdapterSection = {}): GatewayListener[] {
  return Object.entries(ports).map(([key, port]) => {
    // A kind not known here keeps its own name as its type rather than a guessed one.
    const k = KINDS[key] ?? { type: key, name: 'default', host: (s: AdapterSection) => s.host };
    const host = k.host(section) ?? (key.endsWith('6') ? '::' : '0.0.0.0');
    return { id: `${adapter}:${k.type}:${k.name}`, type: k.type, name: k.name, bind: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`, running: true };
  });
}
