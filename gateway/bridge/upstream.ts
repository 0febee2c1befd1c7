import { EventEmitter } from 'node:events';
import { readFileSync } from 'node:fs';
import type { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from 'mqtt';
import { backoffDelay } from '../core/backoff.ts';
import { moreSuffix, RateLimitedLog } from '../core/log-limit.ts';
import type { Logger } from '../log/logger.ts';
import type { Counter } from '../metrics/metrics.ts';
import type { UpstreamConfig } from './config.ts';
import { explainConnectError, type Explained } from './errors.ts';
import { NoOutgoingStore } from './outgoing-store.ts';
import { coalesceWrites } from './write-coalescer.ts';
import { redactUrl, scrub, secretsOf } from './redact.ts';
import { expand, templateVars } from './rules.ts';

export interface LinkEvents {
  up: [MqttClient];
  down: [string];
  message: [string, Buffer, IPublishPacket];
}

export interface LinkDeps {
  gatewayId: string;
  prefix: string;
  log: Logger;
  reconnects: Counter;
}

/** Repeats of the same failure are logged at most this often (a link down for a week stays readable). */
const REPEAT_LOG_MS = 5 * 60_000;
/** How long stop() waits for the "offline" status PUBACK, and then for a clean DISCONNECT. */
const STOP_GRACE_MS = 1000;

/**
 * One upstream connection: MQTT.js for the protocol, but with fieldgate's own reconnect loop.
 * MQTT.js retries at a fixed period and buffers publishes while offline; here every connection is a
 * fresh client (reconnectPeriod 0) and nothing is handed to it unless it is connected, so the log
 * stays the only copy of what has not been acknowledged. Failover walks the server list, then
 * waits an exponentially growing, jittered, capped delay before the next round.
 */
export class UpstreamLink extends EventEmitter<LinkEvents> {
  private client?: MqttClient;
  private up = false;
  private stopped = true;
  private server = 0;
  private round = 0;
  private timer?: NodeJS.Timeout;
  /** Connect failures, one line per distinct failure per REPEAT_LOG_MS (with the count left out). */
  private readonly failLog: RateLimitedLog;
  lastError?: Explained;
  /** The server of the current connection, credentials redacted. */
  connectedTo?: string;
  /** Whether this run has been connected before: "connected again" only then, not on the first connect after failed attempts. */
  private everUp = false;
  /** What must never reach a log line: credentials in the server URLs and the password. */
  private readonly secrets: string[];

  constructor(private readonly cfg: UpstreamConfig, private readonly deps: LinkDeps) {
    super();
    this.secrets = secretsOf(cfg.servers, [cfg.password]);
    this.failLog = new RateLimitedLog({ intervalMs: REPEAT_LOG_MS, write: (f, msg) => deps.log.warn(f, msg) });
  }

  get statusTopic(): string {
    return `${this.deps.prefix}/status`;
  }

  get connected(): boolean {
    return this.up;
  }

  /** The client of the current connection, only while it is up. */
  get current(): MqttClient | undefined {
    return this.up ? this.client : undefined;
  }

  start(): void {
    this.stopped = false;
    this.attempt();
  }

  private options(url: string): IClientOptions {
    const c = this.cfg;
    const vars = templateVars(c, this.deps.gatewayId);
    const opts: IClientOptions = {
      clientId: vars.clientid,
      // {gatewayId} and {clientid} are expanded in the user name (many clouds want the device id
      // there); never in the password.
      username: c.username === undefined ? undefined : expand(c.username, vars),
      password: c.password,
      protocolVersion: c.protocol_version,
      clean: c.clean_start,
      keepalive: Math.round(c.keepalive / 1000),
      // A PINGREQ every keepalive whatever the traffic, instead of MQTT.js clearing and setting its
      // keepalive timer again on every PUBACK (a timer-list insert and removal per message).
      reschedulePings: false,
      connectTimeout: c.connect_timeout,
      reconnectPeriod: 0,
      resubscribe: false,
      queueQoSZero: false,
      // The log is the store of what is not acknowledged yet; MQTT.js need not copy it again.
      outgoingStore: new NoOutgoingStore(),
      will: c.status ? { topic: this.statusTopic, payload: Buffer.from('offline'), qos: 1, retain: true } : undefined,
    };
    if (c.protocol_version === 5 && !c.clean_start) opts.properties = { sessionExpiryInterval: 7 * 24 * 3600 };
    if (/^(mqtts|wss):/.test(url)) {
      const t = c.tls;
      const read = (what: string, file?: string) => {
        if (!file) return undefined;
        try {
          return readFileSync(file);
        } catch (err) {
          throw Object.assign(new Error(`cannot read tls.${what} ${file} (${(err as NodeJS.ErrnoException).code}): check the path and permissions`), { code: 'TLS_FILE' });
        }
      };
      Object.assign(opts, {
        ca: read('ca_file', t?.ca_file),
        cert: read('cert_file', t?.cert_file),
        key: read('key_file', t?.key_file),
        servername: t?.servername,
        ALPNProtocols: t?.alpn,
        minVersion: t?.min_version ?? 'TLSv1.2',
        rejectUnauthorized: !(t?.insecure_skip_verify ?? false),
      });
    }
    return opts;
  }

  private attempt(): void {
    if (this.stopped) return;
    const url = this.cfg.servers[this.server]!;
    const shown = redactUrl(url);
    let failure: Error | undefined;
    let client: MqttClient;
    try {
      client = mqtt.connect(url!, this.options(url!));
      // One socket write per window refill instead of six or seven per PUBLISH (write-coalescer.ts).
      // Through unknown: MQTT.js types its stream as Node's Duplex or readable-stream's (its browser
      // build's), and readable-stream's Duplex type is not assignable to node:stream's Writable. In
      // Node it is a net/tls socket (mqtt://, mqtts://) or ws's createWebSocketStream duplex (ws://,
      // wss://): node:stream objects with the write/end/destroyed/writableEnded the coalescer uses.
      coalesceWrites(client.stream as unknown as Writable);
    } catch (err) {
      this.failed(shown, err as Error);
      return;
    }
    this.client = client;
    const deadline = setTimeout(() => {
      failure ??= Object.assign(new Error('no CONNACK in time'), { code: 'CONNECT_TIMEOUT' });
      client.end(true);
    }, this.cfg.connect_timeout + 1000);
    client.on('connect', () => {
      clearTimeout(deadline);
      // MQTT.js leaves Nagle on: one-at-a-time QoS 1 round trips then take 40+ ms instead of ~0.1.
      (client.stream as { setNoDelay?: (v: boolean) => void }).setNoDelay?.(true);
      this.up = true;
      this.round = 0;
      this.connectedTo = shown;
      if (this.everUp) this.deps.log.info({ url: shown }, `upstream ${shown}: connected again`);
      else this.deps.log.info({ url: shown }, `upstream ${shown}: connected${this.lastError ? ' (after failed attempts; the last one above)' : ''}`);
      this.everUp = true;
      this.lastError = undefined;
      // The link is back: the next failure is news.
      this.failLog.clear();
      if (this.cfg.status) client.publish(this.statusTopic, 'online', { qos: 1, retain: true }, () => {});
      this.emit('up', client);
    });
    client.on('message', (topic, payload, packet) => this.emit('message', topic, payload, packet));
    client.on('error', (err) => {
      failure ??= err;
    });
    client.on('close', () => {
      clearTimeout(deadline);
      if (this.client !== client) return;
      this.client = undefined;
      client.removeAllListeners('message');
      client.end(true);
      if (this.up) {
        this.up = false;
        const why = failure ? scrub(failure.message, this.secrets) : undefined;
        this.deps.log.warn({ url: shown, err: why }, `upstream ${shown}: connection lost${why ? ` (${why})` : ''}; queued messages stay in the log`);
        this.emit('down', failure?.message ?? 'closed');
        if (this.stopped) return;
        this.deps.reconnects.inc();
        this.timer = setTimeout(() => this.attempt(), this.delay());
        return;
      }
      if (!this.stopped) this.failed(shown, failure ?? new Error('connection closed before CONNACK'));
    });
  }

  /** `url` is already redacted; the error's own text is scrubbed of every configured secret. */
  private failed(url: string, err: Error): void {
    const raw = (err as { code?: string }).code === 'TLS_FILE' ? { kind: 'other' as const, line: `upstream ${url}: ${err.message}` } : explainConnectError(err, url);
    const ex = { kind: raw.kind, line: scrub(raw.line, this.secrets) };
    this.lastError = ex;
    this.failLog.event(ex.line, (more) => ({ fields: { url, kind: ex.kind, repeats: more || undefined }, msg: `${ex.line}${moreSuffix(more)}` }));
    this.deps.reconnects.inc();
    // Next server of the cluster at once; a full round of failures waits before the next round.
    this.server = (this.server + 1) % this.cfg.servers.length;
    const wait = this.server === 0 ? this.delay() : 0;
    if (this.server === 0) this.round++;
    this.timer = setTimeout(() => this.attempt(), wait);
  }

  private delay(): number {
    return backoffDelay(this.round, this.cfg.backoff);
  }

  /** Publishes "offline" (when connected) and closes. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    if (this.up && this.cfg.status) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, STOP_GRACE_MS);
        client.publish(this.statusTopic, 'offline', { qos: 1, retain: true }, () => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    this.up = false;
    // end(false) waits until every in-flight QoS 1 message is acknowledged: with a cloud that stopped
    // answering that is forever. Those messages are still in the log (the copy that matters) and are
    // resent after the restart, so a clean DISCONNECT is only attempted when nothing is outstanding,
    // and even then for a bounded time (a full socket buffer can stall it too).
    const outstanding = Object.keys((client as { outgoing?: object }).outgoing ?? {}).length > 0;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        client.stream?.destroy();
        resolve();
      }, STOP_GRACE_MS);
      client.end(outstanding, {}, () => {
        clearTimeout(t);
        resolve();
      });
    });
    client.removeAllListeners();
    client.on('error', () => {});
  }
}
