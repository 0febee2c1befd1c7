import type { Component, ComponentContext } from '../app/component.ts';
import { TraceManager } from '../trace/manager.ts';
import { ApiKeyStore } from './apikeys.ts';
import type { HttpConfig } from './config.ts';
import { opsViewOf } from './gateway-view.ts';
import type { RunningHttp } from './server.ts';

/**
 * The management plane as a component (gateway/app/component.ts): the HTTP API with the status
 * page, Prometheus and traces, over the gateway's read-only view and operator controls. Bans and
 * rate limits are not here: they guard the data path whether or not the API runs. While it
 * listens it provides the service `http/api` ({url, host, port}). Its module, and fastify with
 * it, is loaded only when `http.enabled` (gateway/app/components.ts).
 */
export class ManagementPlane implements Component {
  private http?: RunningHttp;
  private traces?: TraceManager;

  constructor(private readonly cfg: HttpConfig) {}

  async start(ctx: ComponentContext): Promise<void> {
    const view = opsViewOf(ctx.view, ctx.controls);
    this.traces = new TraceManager(ctx.dataDir, view, { maxFileSize: this.cfg.trace.max_file_size, maxTraces: this.cfg.trace.max_traces }, ctx.log);
    const keys = new ApiKeyStore(ctx.dataDir);
    keys.issueCliToken();
    const { startHttp } = await import('./server.ts');
    this.http = await startHttp({ view, bans: ctx.controls.bans, traces: this.traces, cfg: this.cfg, log: ctx.log, keys });
    const { url, host, port } = this.http;
    ctx.services.provide('http/api', { url, host, port });
    // url is where a browser on this machine reaches it; listen is what the socket is bound to (0.0.0.0 = every interface).
    ctx.log.info({ url, listen: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` }, 'HTTP API listening');
  }

  /** The HTTP listener first (no API publish while the gateway stops), then traces. */
  async stop(): Promise<void> {
    const http = this.http;
    this.http = undefined;
    await http?.close();
    await this.traces?.close();
  }
}
