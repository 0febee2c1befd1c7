// The component contract: the parts of the gateway that are not device protocols (the HTTP
// management plane first; a metrics exporter or a sink later) get the adapters' supervised life
// cycle (start order from provides/uses, restart with backoff on failure, health) and, instead of
// the message API, a read-only view of the gateway and the few controls an operator needs.
import type { AclAction, Principal } from '../auth/service.ts';
import type { DeliveredMessage, IngressMessage } from '../core/message.ts';
import type { ServiceDeclaration, Services } from '../core/services.ts';
import type { ClientTracker } from '../http/clients.ts';
import type { BanList } from '../limits/banned.ts';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { DeviceRecord } from '../registry/registry.ts';
import type { GatewayConfig } from './config.ts';
import type { AdapterHealth } from './supervisor.ts';

export interface BridgeHealth {
  name: string;
  connected: boolean;
  server?: string;
  error?: string;
}

/** What a component may read. Nothing here changes the gateway. */
export interface GatewayView {
  readonly node: string;
  readonly version: string;
  readonly startedAt: number;
  readonly maxPacketSize: number;
  adapters(): AdapterHealth[];
  components(): AdapterHealth[];
  bridge(): BridgeHealth[];
  devices(protocol?: string): DeviceRecord[];
  /** The ports an adapter's run bound, by listener (`udp`, `udp6`, `tcp`, `tls`); empty when it has none or is not running. */
  adapterPorts(name: string): Record<string, number>;
  /**
   * MQTT clients and their subscriptions, tracked from the broker's events since the gateway was
   * built (so a component started later still sees every client). Its kick() is controls.disconnectClient.
   */
  readonly clients: ClientTracker;
  /** Provided services and who provides them. */
  services(): { name: string; owner: string }[];
  /** The effective configuration with passwords, tokens and keys replaced by "[redacted]". */
  config(): Record<string, unknown>;
  /** Every metric the gateway keeps: a synchronous snapshot, and the prom-client registry that /metrics renders. */
  readonly metrics: Pick<Metrics, 'snapshot' | 'registry'>;
  authorize(p: Principal, action: AclAction, topic: string): boolean;
  /** An in-process subscription (a live tail, a trace); returns the function that removes it. */
  subscribe(filter: string, onMessage: (m: DeliveredMessage) => void): Promise<() => Promise<void>>;
}

/** What a component may do to the gateway: an operator's controls. */
export interface GatewayControls {
  /** Stops an adapter (its devices disconnected, reason kicked) and starts it again at once. False: no such enabled adapter. */
  restartAdapter(name: string): Promise<boolean>;
  /** Disconnects a connected MQTT client (reason kicked). False: not connected. */
  disconnectClient(clientid: string): boolean;
  /**
   * Ends a device's session in its adapter (reason kicked). `unsupported` when the adapter has no
   * disconnect (datagram protocols without sessions), `not_found` when it does not know the device.
   */
  disconnectDevice(protocol: string, id: string): Promise<'ok' | 'not_found' | 'unsupported'>;
  /** Publishes through the one ingress path (ACL already checked by the caller, bridge log included). */
  publish(msg: IngressMessage): Promise<void>;
  /** Banned clients, usernames and addresses (checked before any listener accepts). */
  readonly bans: BanList;
}

export interface ComponentContext {
  view: GatewayView;
  controls: GatewayControls;
  log: Logger;
  metrics: Metrics;
  services: Services;
  /** `gateway.data_dir`. */
  dataDir: string;
  /** A failure after start(): the gateway stops the component and restarts it with backoff. */
  fail(err: Error): void;
}

export interface Component {
  /** All I/O begins here. */
  start(ctx: ComponentContext): Promise<void>;
  /** Idempotent; release every socket, timer and file. */
  stop(): Promise<void>;
}

/**
 * How a component plugs in. `create` may import the component's module first, so a disabled
 * component costs nothing at start-up (the HTTP API's fastify is loaded only when it is enabled).
 */
export interface ComponentDefinition extends ServiceDeclaration {
  name: string;
  enabled(config: GatewayConfig): boolean;
  create(config: GatewayConfig): Promise<Component>;
}
