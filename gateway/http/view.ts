import type { AdapterHealth } from '../app/supervisor.ts';
import type { AclAction, Principal } from '../auth/service.ts';
import type { DeliveredMessage, IngressMessage } from '../core/message.ts';
import type { DeviceRecord } from '../registry/registry.ts';
import type { ClientTracker } from './clients.ts';

export interface BridgeUpstreamStatus {
  name: string;
  connected: boolean;
  server: string | null;
  last_error: string | null;
  queue: { messages: number; bytes: number; oldest_age_ms: number };
  inflight: number;
  forwarded: number;
  dropped: Record<string, number>;
  log_bytes_written: number;
  log_syncs: number;
}

/** One socket an adapter listens on, as EMQX lists a gateway's listeners. */
export interface GatewayListener {
  /** `{gateway}:{type}:{name}`, e.g. `coap:udp:default`. */
  id: string;
  /** EMQX's tcp, ssl, udp (dtls). */
  type: string;
  name: string;
  /** The configured host with the bound port: `0.0.0.0:5683`, `[::]:5683`. */
  bind: string;
  running: boolean;
}

/**
 * What the management plane reads from, and the few things it may do to, the running gateway.
 * Built once from the gateway (gateway-view.ts); the API, page, trace and CLI see only this.
 */
export interface OpsView {
  node: string;
  version: string;
  startedAt: number;
  maxPacketSize: number;
  /**
   * The broker's bounds of a persistent session, as EMQX names them per client: `expiry_interval`
   * in seconds (4294967295, MQTT 5's "never", when broker.session_expiry_interval is 0) and
   * `mqueue_max` (broker.max_queued_messages).
   */
  session: { expiry_interval: number; mqueue_max: number };
  adapters(): AdapterHealth[];
  /** The supervised parts that are not adapters (the HTTP API itself): health, restarts, last error. */
  components(): AdapterHealth[];
  bridge(): BridgeUpstreamStatus[];
  devices(protocol?: string): DeviceRecord[];
  /** The sockets an adapter has bound (none for the BLE radio or a modem's serial port). */
  listeners(adapter: string): GatewayListener[];
  clients: ClientTracker;
  /** Prometheus text exposition of every metric the gateway keeps, plus process metrics. */
  metrics(): Promise<{ contentType: string; text: string }>;
  /** A flat snapshot (name -> number) for the page and `fieldgate status`. */
  snapshot(): Record<string, number>;
  authorize(p: Principal, action: AclAction, topic: string): boolean;
  /** The one ingress path (bridge log included), then the broker. */
  publish(msg: IngressMessage): Promise<void>;
  /** An in-process subscription; returns the function that removes it. */
  subscribe(filter: string, onMessage: (m: DeliveredMessage) => void): Promise<() => Promise<void>>;
  /** Operator controls (gateway/app/component.ts GatewayControls). */
  restartAdapter(name: string): Promise<boolean>;
  disconnectDevice(protocol: string, id: string): Promise<'ok' | 'not_found' | 'unsupported'>;
}
