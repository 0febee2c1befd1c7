import type { LevelWithSilent } from 'pino';
import { AuthService } from '../auth/service.ts';
import { Broker } from '../broker/broker.ts';
import { SysPublisher } from '../broker/sys.ts';
import { Bridge } from '../bridge/bridge.ts';
import type { AdapterDefinition } from '../core/adapter.ts';
import { Ingress } from '../core/ingress.ts';
import { ServiceRegistry, type Services } from '../core/services.ts';
import { applyReload, type ReloadResult } from '../lifecycle/reload.ts';
import { ClientLog } from '../log/client-log.ts';
import { ManagementPlane } from '../http/component.ts';
import type { Logger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { DeviceRegistry } from '../registry/registry.ts';
import type { GatewayConfig } from './config.ts';
import { AdapterMessageApi } from './message-api.ts';
import { AdapterSupervisor, type SupervisorOptions } from './supervisor.ts';
import { VERSION } from './version.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  adapters: readonly AdapterDefinition[];
  log: Logger;
  supervisor?: Partial<SupervisorOptions>;
}

/**
 * The composition root's running gateway. Start order: registry -> broker (+ listeners) -> $SYS ->
 * bridge -> adapters; stop runs in reverse, so consumers close before what they depend on.
 */
export class Gateway {
  readonly metrics = new Metrics();
  readonly ingress = new Ingress();
  /** Services between adapters and components (a modem's datagram transports). */
  readonly services: ServiceRegistry;
  readonly auth: AuthService;
  readonly broker: Broker;
  readonly registry: DeviceRegistry;
  readonly sys: SysPublisher;
  private readonly supervisor: AdapterSupervisor;
  readonly bridge: Bridge;
  /** HTTP API, status page, Prometheus, traces, bans and rate limits (gateway/http). */
  readonly ops: ManagementPlane;
  private started = false;

  constructor(private readonly opts: GatewayOptions) {
    const { config, log } = opts;
    this.services = new ServiceRegistry((err, name) => log.error({ service: name, err: err.message }, `a watcher of service ${name} failed: ${err.message}`));
    this.auth = new AuthService(config.auth);
    this.registry = new DeviceRegistry(config.gateway.data_dir, 2000, Date.now, config.gateway.max_devices);
    this.broker = new Broker({ cfg: config.broker, auth: this.auth, ingress: this.ingress, metrics: this.metrics, log: log.child({ component: 'broker' }) });
    const clientLog = new ClientLog(log.child({ component: 'clients' }, { level: (config.log.clients ?? config.log.level) as LevelWithSilent }));
    this.sys = new SysPublisher(this.broker, this.metrics, { node: config.gateway.id, interval: config.sys.interval, clientEvents: config.sys.client_events, version: VERSION, sessions: clientLog });
    // Constructed (its ingress hook in place) before any listener opens: a publish that arrives
    // while the log is still opening waits for it instead of being acknowledged unlogged.
    this.bridge = new Bridge(config.bridge, { gatewayId: config.gateway.id, dataDir: config.gateway.data_dir, broker: this.broker, ingress: this.ingress, metrics: this.metrics, log: log.child({ component: 'bridge' }) });
    this.ops = new ManagementPlane(this, { node: config.gateway.id, dataDir: config.gateway.data_dir, maxPacketSize: config.broker.max_packet_size, http: config.http, limits: config.limits, log: log.child({ component: 'http' }) });
    // Here, not in start(): a dependency cycle or a missing required service is a configuration
    // error, reported before any listener opens.
    const entries = opts.adapters.map((def) => ({ def, config: (config.adapters as Record<string, { enabled: boolean }>)[def.name]! }));
    this.supervisor = new AdapterSupervisor(entries, (name, fail, services) => this.adapterContext(name, fail, services), log.child({ component: 'supervisor' }), this.metrics, this.services, opts.supervisor);
    this.broker.on('connected', (s) => this.sys.connected(s));
    this.broker.on('disconnected', (s, reason) => this.sys.disconnected(s, reason));
    this.metrics.gaugeFn('devices/count', () => this.registry.size);
    this.metrics.gaugeFn('devices/evicted', () => this.registry.evicted);
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    this.registry.onError = (err) => log.error({ err: err.message }, `cannot save the device registry in ${config.gateway.data_dir} (disk full or read-only?); devices are kept in memory and saving is retried`);
    const registryProblem = this.registry.load();
    if (registryProblem) log.warn(registryProblem);
    const bansProblem = this.ops.load();
    if (bansProblem) log.warn(bansProblem);
    const ports = await this.broker.start();
    this.started = true;
    this.sys.start();
    // Before adapters: from their first publish on, forwarded messages must reach the log.
    await this.bridge.start();
    await this.supervisor.startAll();
    const http = await this.ops.start();
    log.info({ gateway: config.gateway.id, version: VERSION, listeners: ports.map((l) => `${l.name}://${l.host}:${l.port}`), http: http ? `${http.url.split(':')[0]}://${http.host}:${http.port}` : 'off', adapters: this.supervisor.health().map((h) => `${h.name}:${h.state}`), data_dir: config.gateway.data_dir }, 'fieldgate started');
  }

  private adapterContext(name: string, fail: (err: Error) => void, services: Services) {
    const level = (this.opts.config.log.adapters[name] ?? this.opts.config.log.level) as LevelWithSilent;
    const log = this.opts.log.child({ adapter: name }, { level });
    const messages = new AdapterMessageApi({ broker: this.broker, maxPacketSize: this.opts.config.broker.max_packet_size, auth: this.auth, registry: this.registry, sys: this.sys, metrics: this.metrics }, fail);
    return {
      ctx: { messages, log, metrics: this.metrics.scoped(`adapters/${name}`), registry: this.registry, dataDir: this.opts.config.gateway.data_dir, services, fail },
      close: (reason: string) => messages.close(reason),
    };
  }

  /** SIGHUP: applies what can change without dropping clients (gateway/lifecycle/reload.ts). */
  reload(next: GatewayConfig): ReloadResult {
    const result = applyReload({ auth: this.auth, bridge: this.bridge, log: this.opts.log }, this.opts.config, next);
    this.opts.config = result.effective;
    return result;
  }

  health() {
    return this.supervisor.health();
  }

  /**
   * Stops accepting (listeners closed, MQTT clients disconnected, so nothing is acknowledged that
   * the bridge could no longer log), stops adapters (reverse order), then the bridge (flush), then
   * the broker, and saves the registry.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.ops.stop();
    await this.sys.offline(); // retained state "offline" reaches connected subscribers first
    await this.broker.stopAccepting();
    await this.supervisor.stopAll();
    await this.bridge.stop();
    this.sys.stop();
    await this.broker.stop();
    this.ops.detach();
    this.registry.close();
  }
}
