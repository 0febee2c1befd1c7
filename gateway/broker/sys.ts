import type { Metrics } from '../metrics/metrics.ts';
import { sysTopicLevel } from '../metrics/sys-names.ts';
import type { Broker, ClientSession } from './broker.ts';

export interface SysOptions {
  node: string;
  interval: number;
  clientEvents: boolean;
  version: string;
  /** Also told of every session event, MQTT clients and adapter devices alike (the per-client log lines). */
  sessions?: { connected(s: ClientSession): void; disconnected(s: ClientSession, reason: string): void };
}

/**
 * Publishes `$SYS/brokers/{node}/...` like EMQX (names and JSON fields from EMQX 5's emqx_sys):
 * client connected/disconnected events for MQTT clients and, under gateway/{protocol}/, for adapter
 * devices; and every `interval` the stats and metrics as plain integers.
 */
export class SysPublisher {
  private timer?: NodeJS.Timeout;
  private readonly startedAt = Date.now();
  private readonly base: string;

  constructor(private readonly broker: Broker, private readonly metrics: Metrics, private readonly opts: SysOptions) {
    this.base = `$SYS/brokers/${opts.node}`;
  }

  private eventTopic(s: ClientSession, event: string): string {
    const id = encodeTopicLevel(s.clientid);
    return s.protocol === 'mqtt' ? `${this.base}/clients/${id}/${event}` : `${this.base}/gateway/${s.protocol}/clients/${id}/${event}`;
  }

  private common(s: ClientSession) {
    return {
      clientid: s.clientid,
      username: s.username ?? null,
      ipaddress: s.ipaddress ?? null,
      sockport: s.sockport ?? null,
      protocol: s.protocol,
      proto_name: s.proto_name,
      proto_ver: s.proto_ver,
      connected_at: s.connected_at,
    };
  }

  connected(s: ClientSession): void {
    this.opts.sessions?.connected(s);
    if (!this.opts.clientEvents) return;
    const ts = Date.now();
    this.broker.publishSys(this.eventTopic(s, 'connected'), JSON.stringify({ ...this.common(s), keepalive: s.keepalive, clean_start: s.clean_start, expiry_interval: 0, ts }));
  }

  disconnected(s: ClientSession, reason: string): void {
    this.opts.sessions?.disconnected(s, reason);
    if (!this.opts.clientEvents) return;
    const ts = Date.now();
    this.broker.publishSys(this.eventTopic(s, 'disconnected'), JSON.stringify({ ...this.common(s), reason, disconnected_at: ts, ts }));
  }

  /** `$SYS/brokers/{node}/state`: retained "online" while the gateway serves, "offline" once it stops (like Zigbee2MQTT's bridge/state). */
  get stateTopic(): string {
    return `${this.base}/state`;
  }

  start(): void {
    this.broker.publishSys(this.stateTopic, 'online', true);
    // Stats are retained, so a subscriber sees them at once, not after up to one interval.
    this.publishStats();
    this.timer = setInterval(() => this.publishStats(), this.opts.interval);
    this.timer.unref();
  }

  /**
   * The broker's own will: retained "offline" on the state topic, handed to every connected
   * subscriber before the gateway closes their connections. (After a crash the connection drop
   * says it; on restart "online" replaces the retained value.)
   */
  offline(): Promise<void> {
    return new Promise((resolve) => this.broker.publishSys(this.stateTopic, 'offline', true, resolve));
  }

  /**
   * A retained channel under `$SYS/brokers/{node}/{scope}/` for one adapter (AdapterContext.sys). The
   * scope is one level that none of the gateway's own $SYS topics use (checkSysScopes, when the gateway
   * is built). An empty payload removes the retained value (MQTT 3.1.1 3.3.1.3).
   */
  channel(scope: string): { publish(path: string, payload: string): void } {
    checkSysScope(scope);
    return {
      publish: (path, payload) => {
        const levels = path.split('/');
        if (levels.some((l) => l === '' || /[+#\u0000]/.test(l))) throw new Error(`$SYS path "${path}" under ${scope}/ must be plain topic levels (no wildcard, NUL or empty level)`);
        this.broker.publishSys(`${this.base}/${scope}/${path}`, payload, true);
      },
    };
  }

  /** Publishes the stats now; the metrics follow once read from the registry (asynchronously). */
  publishStats(): void {
    const sys = (topic: string, payload: string) => this.broker.publishSys(topic, payload, true);
    sys('$SYS/brokers', this.opts.node);
    sys(`${this.base}/version`, this.opts.version);
    sys(`${this.base}/sysdescr`, 'fieldgate IoT gateway');
    sys(`${this.base}/uptime`, String(Math.round((Date.now() - this.startedAt) / 1000)));
    sys(`${this.base}/datetime`, new Date().toISOString());
    this.metrics.sysValues().then(
      (values) => {
        for (const [name, value] of values) sys(`${this.base}/${sysTopicLevel(name)}`, String(value));
      },
      () => {
        // A collector of a subsystem that is stopping; the next interval publishes again.
      },
    );
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

/** A client id may hold characters that are special in topics; they must not change the topic's shape. */
function encodeTopicLevel(id: string): string {
  return id.replace(/[/+#]/g, (c) => encodeURIComponent(c));
}

/**
 * $SYS levels the gateway itself publishes under, and EMQX's alarms/ and sysmon/ (kept free for EMQX
 * compatibility): an adapter's sysScope may not take one.
 */
const RESERVED_SCOPES = new Set(['clients', 'gateway', 'state', 'stats', 'metrics', 'uptime', 'version', 'datetime', 'sysdescr', 'alarms', 'sysmon']);

export function checkSysScope(scope: string): void {
  if (!/^[a-z][a-z0-9_-]*$/.test(scope) || RESERVED_SCOPES.has(scope)) {
    throw new Error(`sysScope "${scope}" must be one lower-case topic level not used by the gateway's own $SYS topics (${[...RESERVED_SCOPES].join(', ')})`);
  }
}

/** Every adapter's sysScope is valid and its own: two adapters writing one subtree would overwrite each other. */
export function checkSysScopes(defs: readonly { name: string; sysScope?: string }[]): void {
  const owner = new Map<string, string>();
  for (const d of defs) {
    if (d.sysScope === undefined) continue;
    checkSysScope(d.sysScope);
    const other = owner.get(d.sysScope);
    if (other) throw new Error(`adapters ${other} and ${d.name} both declare sysScope "${d.sysScope}"`);
    owner.set(d.sysScope, d.name);
  }
}
