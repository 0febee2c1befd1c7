import { join } from 'node:path';
import type { LevelWithSilent } from 'pino';
import { AuthService } from '../auth/service.ts';
import { Broker } from '../broker/broker.ts';
import { checkSysScopes, SysPublisher } from '../broker/sys.ts';
import { Bridge } from '../bridge/bridge.ts';
import type { Adapter, AdapterDefinition } from '../core/adapter.ts';
import { Ingress } from '../core/ingress.ts';
import { ServiceRegistry, type Services } from '../core/services.ts';
import { ClientTracker } from '../http/clients.ts';
import { BanList } from '../limits/banned.ts';
import { ConnectionGate } from '../limits/gate.ts';
import { applyReload, type ReloadResult } from '../lifecycle/reload.ts';
import { ClientLog } from '../log/client-log.ts';
import type { Logger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { DeviceRegistry } from '../registry/registry.ts';
import type { ComponentContext, ComponentDefinition, GatewayControls, GatewayView } from './component.ts';
import { builtinComponents } from './components.ts';
import type { GatewayConfig } from './config.ts';
import { AdapterMessageApi } from './message-api.ts';
import { gatewayControls, gatewayView } from './operator.ts';
import { Supervisor, type SupervisorOptions, type UnitEntry, type UnitKind } from './supervisor.ts';
import { VERSION } from './version.ts';

export interface GatewayOptions {
  config: GatewayConfig;
  adapters: readonly AdapterDefinition[];
  /** Non-protocol parts (the HTTP API); the built-in ones when absent. */
  components?: readonly ComponentDefinition[];
  log: Logger;
  supervisor?: Partial<SupervisorOptions>;
  /** The clock of the login backoff and cache (`auth.login`); Date.now when absent (tests drive it). */
  now?: () => number;
}

/**
 * The composition root's running gateway. Start order: registry -> broker (+ listeners) -> $SYS ->
 * bridge -> wills the last run owes -> adapters and components (providers of a service before its
 * users); stop runs in reverse, so consumers close before what they depend on.
 */
export class Gateway {
  readonly metrics = new Metrics();
  readonly ingress = new Ingress();
  /** Services between adapters and components (a modem's datagram transports, the HTTP API's address). */
  readonly services: ServiceRegistry;
  readonly auth: AuthService;
  readonly broker: Broker;
  readonly registry: DeviceRegistry;
  readonly sys: SysPublisher;
  readonly bridge: Bridge;
  /** Bans and rate limits: the data path's guard, in place before any listener opens. */
  readonly limits: { bans: BanList; gate: ConnectionGate };
  /** MQTT clients and subscriptions as the management plane shows them. */
  readonly clients: ClientTracker;
  readonly view: GatewayView;
  readonly controls: GatewayControls;
  private readonly supervisor: Supervisor;
  private readonly removeLimitsHook: () => void;
  private started = false;

  constructor(private readonly opts: GatewayOptions) {
    const { config, log } = opts;
    checkSysScopes(opts.adapters); // a bad or shared sysScope stops the gateway before anything opens
    this.services = new ServiceRegistry((err, name) => log.error({ service: name, err: err.message }, `a watcher of service ${name} failed: ${err.message}`));
    this.auth = new AuthService(config.auth, { now: opts.now });
    this.auth.registerMetrics(this.metrics);
    this.registry = new DeviceRegistry(config.gateway.data_dir, 2000, Date.now, config.gateway.max_devices);
    this.broker = new Broker({ cfg: config.broker, auth: this.auth, ingress: this.ingress, metrics: this.metrics, log: log.child({ component: 'broker' }), dataDir: join(config.gateway.data_dir, 'broker') });
    const clientLog = new ClientLog(log.child({ component: 'clients' }, { level: (config.log.clients ?? config.log.level) as LevelWithSilent }));
    this.sys = new SysPublisher(this.broker, this.metrics, { node: config.gateway.id, interval: config.sys.interval, clientEvents: config.sys.client_events, version: VERSION, sessions: clientLog });
    // Constructed (its ingress hook in place) before any listener opens: a publish that arrives
    // while the log is still opening waits for it instead of being acknowledged unlogged.
    this.bridge = new Bridge(config.bridge, { gatewayId: config.gateway.id, dataDir: config.gateway.data_dir, broker: this.broker, ingress: this.ingress, metrics: this.metrics, log: log.child({ component: 'bridge' }) });
    this.limits = this.guard();
    this.removeLimitsHook = this.ingress.addHook('limits', this.limits.gate.hook);
    this.clients = new ClientTracker(this.broker);
    this.broker.on('connected', (s) => this.sys.connected(s));
    this.broker.on('disconnected', (s, reason) => this.sys.disconnected(s, reason));
    this.metrics.gaugeFn('devices/count', () => this.registry.size);
    this.metrics.counterFn('devices/evicted', () => this.registry.evicted);
    // Here, not in start(): a dependency cycle or a missing required service is a configuration
    // error, reported before any listener opens.
    this.supervisor = new Supervisor(this.units(), (unit, fail, services) => this.context(unit, fail, services), log.child({ component: 'supervisor' }), this.metrics, this.services, opts.supervisor);
    const parts = { config: () => this.opts.config, supervisor: this.supervisor, broker: this.broker, auth: this.auth, bridge: this.bridge, registry: this.registry, services: this.services, metrics: this.metrics, clients: this.clients, bans: this.limits.bans };
    this.view = gatewayView(parts);
    this.controls = gatewayControls(parts);
  }

  /** Bans and per-client rate limits, checked before credentials and on every publish. */
  private guard(): { bans: BanList; gate: ConnectionGate } {
    const { config, log } = this.opts;
    const bans = new BanList(config.gateway.data_dir);
    const gate = new ConnectionGate(config.limits, bans, log.child({ component: 'limits' }));
    this.auth.gate = (p) => gate.admit(p);
    gate.loginBackoff = (address) => this.auth.logins.addressBackoff(address);
    this.broker.acceptGate = (info) => gate.atAccept(info.ipaddress);
    this.broker.on('disconnected', (s) => gate.forget(s.clientid));
    return { bans, gate };
  }

  /** The one list: every adapter (its config section decides) and every component. */
  private units(): UnitEntry[] {
    const { config, adapters } = this.opts;
    const sections = config.adapters as Record<string, { enabled: boolean }>;
    const units: UnitEntry[] = adapters.map((def) => ({ kind: 'adapter', def, config: sections[def.name]! }));
    for (const def of this.opts.components ?? builtinComponents) {
      // The component gets the configuration current at each (re)start, reloads included.
      units.push({ kind: 'component', def: { ...def, create: () => def.create(this.opts.config) }, config: { enabled: def.enabled(config) } });
    }
    return units;
  }

  async start(): Promise<void> {
    const { config, log } = this.opts;
    this.registry.onError = (err) => log.error({ err: err.message }, `cannot save the device registry in ${config.gateway.data_dir} (disk full or read-only?); devices are kept in memory and saving is retried`);
    const registryProblem = this.registry.load();
    if (registryProblem) log.warn(registryProblem);
    const bansProblem = this.limits.bans.load();
    if (bansProblem) log.warn(bansProblem);
    const ports = await this.broker.start();
    this.started = true;
    this.sys.start();
    // Before adapters: from their first publish on, forwarded messages must reach the log.
    await this.bridge.start();
    // Wills the last run owes go through the ingress path, so only now that the bridge logs.
    await this.broker.publishRestoredWills();
    await this.supervisor.startAll();
    const http = this.services.get('http/api');
    log.info({ gateway: config.gateway.id, version: VERSION, listeners: ports.map((l) => `${l.name}://${l.host}:${l.port}`), http: http ? `${http.url.split(':')[0]}://${http.host}:${http.port}` : config.http.enabled ? 'not listening (retrying)' : 'off', adapters: this.supervisor.health('adapter').map((h) => `${h.name}:${h.state}`), components: this.supervisor.health('component').map((h) => `${h.name}:${h.state}`), data_dir: config.gateway.data_dir }, 'fieldgate started');
  }

  private context(unit: { kind: UnitKind; name: string }, fail: (err: Error) => void, services: Services) {
    const { config } = this.opts;
    if (unit.kind === 'component') {
      const log = this.opts.log.child({ component: unit.name });
      const ctx: ComponentContext = { view: this.view, controls: this.controls, log, metrics: this.metrics, services, dataDir: config.gateway.data_dir, fail };
      return { ctx, close: async () => {} };
    }
    const name = unit.name;
    const level = (config.log.adapters[name] ?? config.log.level) as LevelWithSilent;
    const log = this.opts.log.child({ adapter: name }, { level });
    const messages = new AdapterMessageApi({ broker: this.broker, maxPacketSize: config.broker.max_packet_size, auth: this.auth, registry: this.registry, sys: this.sys, metrics: this.metrics, adapter: name }, fail);
    const sysScope = this.opts.adapters.find((d) => d.name === name)?.sysScope;
    return {
      ctx: { messages, log, metrics: this.metrics.scoped('adapters/{adapter}', { adapter: name }), registry: this.registry, dataDir: config.gateway.data_dir, services, fail, sys: sysScope ? this.sys.channel(sysScope) : undefined },
      close: (reason: string) => messages.close(reason),
    };
  }

  /** SIGHUP: applies what can change without dropping clients (gateway/lifecycle/reload.ts). */
  reload(next: GatewayConfig): ReloadResult {
    const result = applyReload({ auth: this.auth, bridge: this.bridge, log: this.opts.log }, this.opts.config, next);
    this.opts.config = result.effective;
    return result;
  }

  /** Adapters' health, in start order. */
  health() {
    return this.supervisor.health('adapter');
  }

  components() {
    return this.supervisor.health('component');
  }

  /** The ports an adapter bound, by listener (`{ udp: 40123 }`): how a port configured as 0 is found. */
  adapterPorts(name: string): Record<string, number> {
    return (this.supervisor.instance(name) as Adapter | undefined)?.ports?.() ?? {};
  }

  /**
   * Stops components (the HTTP API: no API publish while the gateway stops), then accepting
   * (listeners closed, MQTT clients disconnected, so nothing is acknowledged that the bridge could
   * no longer log), then adapters (reverse order), then the bridge (flush), then the broker, and
   * saves the registry.
   */
  async stop(): Promise<void> {
    if (!this.started) return;
    this.started = false;
    await this.supervisor.stopAll('component');
    await this.sys.offline(); // retained state "offline" reaches connected subscribers first
    await this.broker.stopAccepting();
    await this.supervisor.stopAll();
    await this.bridge.stop();
    this.sys.stop();
    await this.broker.stop();
    this.removeLimitsHook();
    this.registry.close();
    await this.auth.close();
  }
}
