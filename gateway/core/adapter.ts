import type { z } from 'zod';
import type { Logger } from '../log/logger.ts';
import type { Metrics } from '../metrics/metrics.ts';
import type { AuthResult } from '../auth/service.ts';
import type { DeliveredMessage, DeviceIdentity, Qos } from './message.ts';
import type { DeviceRecord } from '../registry/registry.ts';
import type { ServiceDeclaration, Services } from './services.ts';

export type { AuthResult, DeviceIdentity, DeliveredMessage, Qos };

export interface PublishRequest {
  topic: string;
  payload: Buffer | string;
  qos?: Qos;
  retain?: boolean;
  device: DeviceIdentity;
}

export interface Subscription {
  unsubscribe(): Promise<void>;
}

/** Facts about a device session, for the `$SYS/.../gateway/{protocol}/clients/{id}/connected` event. */
export interface SessionInfo {
  keepalive?: number;
  proto_name?: string;
  proto_ver?: number | string;
  sockport?: number;
}

/**
 * What an adapter may do with the rest of the gateway. It is the only way in: adapters never import
 * the broker, the bridge, or each other.
 */
export interface MessageApi {
  /**
   * Resolves once the gateway has accepted the message (authorized, written to the bridge's durable
   * log when a forward rule matches, handed to the broker). Rejects with PublishRejected.
   */
  publish(req: PublishRequest): Promise<void>;
  /** Downlink: messages on `filter` that `device` may read (the ACL is checked at subscribe time). */
  subscribe(filter: string, onMessage: (msg: DeliveredMessage) => void, device?: DeviceIdentity): Promise<Subscription>;
  authenticate(device: DeviceIdentity, password: string | Buffer | undefined): Promise<AuthResult>;
  /** A device identified by configuration, without a secret (AuthService.identify): bans and limits apply, `username` must exist. */
  identify(device: DeviceIdentity): Promise<AuthResult>;
  deviceConnected(device: DeviceIdentity, info?: SessionInfo): void;
  deviceDisconnected(device: DeviceIdentity, reason: string): void;
  /** The device was heard from (datagram protocols have no session). */
  deviceSeen(device: DeviceIdentity): void;
}

export interface RegistryView {
  get(protocol: string, id: string): DeviceRecord | undefined;
  list(protocol?: string): DeviceRecord[];
}

export interface AdapterContext {
  messages: MessageApi;
  log: Logger;
  metrics: Metrics;
  registry: RegistryView;
  /**
   * `gateway.data_dir`: where an adapter keeps state that must survive a restart (frame counters,
   * duty-cycle ledgers). Absent only in contexts built by hand in tests.
   */
  dataDir?: string;
  /**
   * Services shared with other adapters and components (gateway/core/services.ts): a modem
   * provides `datagram/<name>`, the CoAP adapter watches `datagram/`. Only names declared in the
   * definition's provides/uses/requires; what a run provides is withdrawn when it stops or fails.
   */
  services: Services;
  /**
   * Report a failure the adapter cannot recover from by itself after start() returned (a socket
   * that died, a serial port that vanished). The gateway stops the adapter and restarts it with backoff.
   */
  fail(err: Error): void;
  /**
   * Retained status under `$SYS/brokers/{node}/{sysScope}/...`, present when the definition declares
   * `sysScope`. An adapter can write only inside its own subtree: `publish('nb0/operator', 'Vodafone')`.
   */
  sys?: SysChannel;
}

/** The one way an adapter writes `$SYS`: retained values inside the subtree its definition declares. */
export interface SysChannel {
  /**
   * `path` is one or more topic levels below the scope; a wildcard, NUL or empty level throws. The
   * value is retained; an empty payload removes it.
   */
  publish(path: string, payload: string): void;
}

export interface Adapter {
  /** All I/O begins here; the constructor only stores its config. */
  start(ctx: AdapterContext): Promise<void>;
  /** Idempotent; release every socket, timer and subscription. */
  stop(): Promise<void>;
  /**
   * The ports this run bound, by listener (`udp`, `udp6`, `tcp`, `tls`); empty when not running.
   * How tests, benchmarks and tools find a port configured as 0 (`Gateway.adapterPorts(name)`).
   */
  ports?(): Record<string, number>;
  /**
   * Optional: ends one device's session at an operator's request (`fieldgate`'s HTTP API), with
   * `reason` (kicked) in its disconnected event. Resolves false when the adapter has no such device.
   */
  disconnect?(id: string, reason: string): Promise<boolean>;
  /**
   * Optional: the device protocols this adapter registers its devices under when they are not its
   * name (the modem adapter: `lora`, `nbiot`), so an operator's disconnect by protocol finds it.
   */
  readonly protocols?: readonly string[];
}

/**
 * How an adapter plugs in: a name, its config section's schema, a factory, and the services it
 * provides and uses (names or `prefix/`), from which the supervisor derives the start order.
 */
export interface AdapterDefinition<S extends z.ZodType<{ enabled: boolean }> = z.ZodType<{ enabled: boolean }>> extends ServiceDeclaration {
  name: string;
  /** Validates `adapters.<name>` in fieldgate.yaml; must default `enabled`. */
  configSchema: S;
  /** The `$SYS/brokers/{node}/<sysScope>/` subtree the adapter publishes status under (ctx.sys), e.g. `modems`. */
  sysScope?: string;
  /**
   * Makes the adapter. Usually `async` around a dynamic import() of the adapter's module, so a
   * disabled adapter never loads its code or its dependencies (noble, serialport): only the
   * definition and its config schema are loaded with the gateway.
   */
  create(config: z.output<S>): Adapter | Promise<Adapter>;
}
