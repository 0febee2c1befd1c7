import type { Component, ComponentContext } from '../app/component.ts';
import { TraceManager } from '../trace/manager.ts';
import { ApiKeyStore } from './apikeys.ts';
import type { HttpConfig } from './config.ts';
import { opsViewOf } from './gateway-view.ts';
import { startHttp, type AppLoader, type HttpListenerOptions, type RunningHttp } from './listener.ts';

/**
 * The management plane as a component (gateway/app/component.ts): the HTTP API with the status
 * page, Prometheus and traces, over the gateway's read-only view and operator controls. Bans and
 * rate limits are not here: they guard the data path whether or not the API runs. While it
 * listens it provides the service `http/api` ({url, host, port}). Its module is loaded only when
 * `http.enabled` (gateway/app/components.ts); it binds the port at start, and fastify with the
 * routes (server.ts) is loaded on the first request (listener.ts).
 */
export class ManagementPlane implements Component {
  private http?: RunningHttp;
  private traces?: TraceManager;

  /**
   * `loadApp`: what builds the app on the first request; tests give one that fails or holds. The
   * listener's options (listener.ts): tests give short bounds, and a lookup of `localhost`.
   */
  constructor(private readonly cfg: HttpConfig, private readonly opts: { loadApp?: AppLoader } & HttpListenerOptions = {}) {}

  /** The running listener (tests: whether the first request built the app yet). */
  get running(): RunningHttp | undefined {
    return this.http;
  }

  async start(ctx: ComponentContext): Promise<void> {
    const view = opsViewOf(ctx.view, ctx.controls);
    this.traces = new TraceManager(ctx.dataDir, view, { maxFileSize: this.cfg.trace.max_file_size, maxTraces: this.cfg.trace.max_traces }, ctx.log);
    const keys = new ApiKeyStore(ctx.dataDir);
    keys.issueCliToken();
    // Behind import(): the bundle keeps fastify in a chunk of its own, read on the first request.
    const load = this.opts.loadApp ?? (async (deps, server) => (await import('./server.ts')).loadApp(deps, server));
    this.http = await startHttp({ view, bans: ctx.controls.bans, traces: this.traces, cfg: this.cfg, log: ctx.log, keys }, load, this.opts);
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
