import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { RateLimitedLog } from '../core/log-limit.ts';
import { flushCompileCache } from '../lifecycle/compile-cache.ts';
import type { ApiKeyStore } from './apikeys.ts';
import type { RouteDeps } from './routes/deps.ts';

export interface HttpServerDeps extends RouteDeps {
  keys: ApiKeyStore;
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** The app the first request builds (server.ts: fastify with every route, ready). */
export interface BuiltApp {
  handler: RequestHandler;
  close(): Promise<void>;
}

/** Builds the app on the bound server; component.ts gives server.ts's, behind import(). */
export type AppLoader = (deps: HttpServerDeps, server: Server) => Promise<BuiltApp>;

export interface RunningHttp {
  host: string;
  port: number;
  url: string;
  /** Whether the app has been built (by a first request). */
  readonly built: boolean;
  close(): Promise<void>;
}

/** Requests waiting for the app while it is built; more get 503 at once. */
const MAX_WAITING = 64;

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${option} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (check the path and that the fieldgate user may read it)`);
  }
}

function unavailable(res: ServerResponse, message: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1' });
  res.end(JSON.stringify({ code: 'SERVICE_UNAVAILABLE', message }));
}

/**
 * Hands requests to the app, building it on the first one: the listener is bound at start, and
 * fastify (its code, its routes, its ready()) costs nothing until someone calls the API (issue 16:
 * that cost moves to the first request). Requests arriving meanwhile wait, in order, up to
 * MAX_WAITING. A failed build answers them 503, logs one line (rate-limited: any caller can
 * retry) and is tried again by the next request.
 */
class LazyApp {
  app?: BuiltApp;
  private building?: Promise<void>;
  private waiting: [IncomingMessage, ServerResponse][] = [];
  private closing = false;
  private readonly failures: RateLimitedLog;

  constructor(private readonly deps: HttpServerDeps, private readonly server: Server, private readonly load: AppLoader) {
    this.failures = new RateLimitedLog({ intervalMs: 10_000, write: (f, m) => deps.log.error(f, m) });
  }

  readonly request = (req: IncomingMessage, res: ServerResponse): void => {
    if (this.app) return this.app.handler(req, res);
    if (this.closing) return unavailable(res, 'the gateway is stopping');
    if (this.waiting.length >= MAX_WAITING) return unavailable(res, 'the HTTP API is starting; try again');
    this.waiting.push([req, res]);
    this.building ??= this.build();
  };

  private async build(): Promise<void> {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    try {
      const app = await this.load(this.deps, this.server);
      if (this.closing) return void (await app.close());
      this.app = app;
      const cpu = process.cpuUsage(cpu0);
      this.deps.log.info({ ms: Math.round(performance.now() - t0), cpu_ms: Math.round((cpu.user + cpu.system) / 1000) }, 'HTTP API: routes loaded on the first request');
      const waiting = this.waiting.splice(0);
      for (const [req, res] of waiting) if (!req.socket.destroyed) app.handler(req, res);
      // fastify's chunk into V8's compile cache now, as the start's chunks went at ready: a Pi that
      // is unplugged never exits cleanly, when Node.js would write it otherwise.
      flushCompileCache();
    } catch (err) {
      const message = (err as Error).message;
      this.failures.event(message, (more) => ({ fields: { err: message }, msg: `HTTP API: cannot load its routes; requests get 503 and the next one tries again${more ? ` (${more} more failures since the last line)` : ''}` }));
      for (const [, res] of this.waiting.splice(0)) unavailable(res, 'the HTTP API could not load (see the gateway log); try again');
    } finally {
      this.building = undefined;
    }
  }

  /** After the server stopped accepting: waits for a build under way, then closes the app. */
  async close(): Promise<void> {
    this.closing = true;
    this.waiting.splice(0);
    await this.building;
    await this.app?.close();
  }
}

function bindError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const why = err.code === 'EADDRINUSE' ? 'address already in use (is another fieldgate or EMQX dashboard running?)' : err.code === 'EACCES' ? 'permission denied' : err.code === 'EADDRNOTAVAIL' ? 'address not available on this machine' : err.message;
  return new Error(`cannot start the HTTP API on ${host}:${port}: ${why}; change http.port or http.host (or set http.enabled: false)`);
}

function listen(server: Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const failed = (err: NodeJS.ErrnoException) => reject(bindError(err, host, port));
    server.once('error', failed);
    server.listen({ host, port }, () => {
      server.off('error', failed);
      resolve();
    });
  });
}

/**
 * Binds the HTTP API's port (node:http, or node:https with http.tls) and returns once it accepts;
 * the app behind it is built by the first request (LazyApp). Bind errors fail the start.
 */
export async function startHttp(deps: HttpServerDeps, load: AppLoader): Promise<RunningHttp> {
  const { host, port, tls } = deps.cfg;
  let lazy: LazyApp | undefined;
  const onRequest: RequestHandler = (req, res) => lazy!.request(req, res);
  const server: Server = tls.enabled ? createHttpsServer({ cert: readPem('http.tls.cert_file', tls.cert_file!), key: readPem('http.tls.key_file', tls.key_file!) }, onRequest) : createHttpServer(onRequest);
  // What fastify set on the server it made itself (its defaults): keep-alive longer than most
  // proxies', no request or socket timeout (the live tail is one long response).
  server.keepAliveTimeout = 72_000;
  server.requestTimeout = 0;
  server.setTimeout(0);
  lazy = new LazyApp(deps, server, load);
  await listen(server, host, port);
  const addr = server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const app = lazy;
  return {
    host,
    port: bound,
    url: `${tls.enabled ? 'https' : 'http'}://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${bound}`,
    get built() {
      return app.app !== undefined;
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // Live tails are hijacked responses, and keep-alive connections idle ones: end them all, or
      // close() waits for them.
      server.closeAllConnections();
      await app.close();
      await closed;
    },
  };
}
