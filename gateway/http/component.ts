import type { HttpConfig } from './config.ts';
import type { LimitsConfig } from '../limits/config.ts';
import { BanList } from '../limits/banned.ts';
import { ConnectionGate } from '../limits/gate.ts';
import type { Logger } from '../log/logger.ts';
import { TraceManager } from '../trace/manager.ts';
import { ApiKeyStore } from './apikeys.ts';
import { viewOf, type GatewayParts } from './gateway-view.ts';
import type { RunningHttp } from './server.ts';
import type { OpsView } from './view.ts';

export interface ManagementOptions {
  node: string;
  dataDir: string;
  maxPacketSize: number;
  http: HttpConfig;
  limits: LimitsConfig;
  log: Logger;
}

/**
 * The management plane: bans and rate limits (in place before any listener opens), the view of
 * clients and subscriptions, traces, and the HTTP API with the status page. fastify is loaded
 * only when the HTTP listener is enabled.
 */
export class ManagementPlane {
  readonly bans: BanList;
  readonly gate: ConnectionGate;
  readonly view: OpsView;
  readonly traces: TraceManager;
  readonly keys: ApiKeyStore;
  private http?: RunningHttp;
  private readonly removeHook: () => void;

  constructor(gw: GatewayParts & { ingress: { addHook(name: string, fn: ConnectionGate['hook']): () => void } }, private readonly opts: ManagementOptions) {
    this.bans = new BanList(opts.dataDir);
    this.gate = new ConnectionGate(opts.limits, this.bans, opts.log);
    gw.auth.gate = (p) => this.gate.admit(p);
    this.removeHook = gw.ingress.addHook('limits', this.gate.hook);
    gw.broker.on('disconnected', (s) => this.gate.forget(s.clientid));
    this.view = viewOf(gw, { node: opts.node, maxPacketSize: opts.maxPacketSize });
    this.traces = new TraceManager(opts.dataDir, this.view, { maxFileSize: opts.http.trace.max_file_size, maxTraces: opts.http.trace.max_traces }, opts.log);
    this.keys = new ApiKeyStore(opts.dataDir);
  }

  /** Loads the banned list (call before listeners open). Returns a warning when it was unreadable. */
  load(): string | undefined {
    return this.bans.load();
  }

  async start(): Promise<RunningHttp | undefined> {
    if (!this.opts.http.enabled) return undefined;
    const { startHttp } = await import('./server.ts');
    try {
      this.keys.issueCliToken();
      this.http = await startHttp({ view: this.view, bans: this.bans, traces: this.traces, cfg: this.opts.http, log: this.opts.log, keys: this.keys });
    } catch (err) {
      // The management plane is not the data path: devices and the bridge keep working without it.
      this.opts.log.error({ err: (err as Error).message }, `${(err as Error).message}; the gateway runs on without its HTTP API`);
      return undefined;
    }
    return this.http;
  }

  get url(): string | undefined {
    return this.http?.url;
  }

  get port(): number | undefined {
    return this.http?.port;
  }

  /** The HTTP listener first (no API publish while the gateway stops), then traces. */
  async stop(): Promise<void> {
    const http = this.http;
    this.http = undefined;
    await http?.close();
    await this.traces.close();
  }

  /** After the broker stopped: nothing publishes any more. */
  detach(): void {
    this.removeHook();
  }
}
