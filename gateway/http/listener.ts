import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
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

export interface HttpListenerOptions {
  /** How long a build may take before its waiting requests get 503 (default 30 s). */
  buildTimeoutMs?: number;
  /** How long a client may take to send a whole request (default 30 s). */
  requestTimeoutMs?: number;
  /** Resolves `localhost` to the addresses to listen on (default dns.lookup, all of them). */
  lookup?: (host: string) => Promise<LookupAddress[]>;
}

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
 * retry) and is tried again by the next request; so does a build that takes longer than
 * `timeoutMs` (it should take well under a second: one that hangs must not hold requests, or a
 * stop, forever). Such a build is abandoned: should it end after all, its app is used if none is
 * yet, and closed otherwise.
 */
class LazyApp {
  app?: BuiltApp;
  private building?: Promise<void>;
  private waiting: [IncomingMessage, ServerResponse][] = [];
  private closing = false;
  private readonly failures: RateLimitedLog;

  constructor(private readonly deps: HttpServerDeps, private readonly server: Server, private readonly load: AppLoader, private readonly timeoutMs: number) {
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
    const loading = this.load(this.deps, this.server);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), this.timeoutMs)));
    try {
      const app = await Promise.race([loading, timedOut]);
      if (!app) {
        loading.then((late) => this.adopt(late, t0, cpu0)).catch(() => {});
        throw new Error(`not loaded within ${this.timeoutMs / 1000} s`);
      }
      await this.adopt(app, t0, cpu0);
    } catch (err) {
      const message = (err as Error).message;
      this.failures.event(message, (more) => ({ fields: { err: message }, msg: `HTTP API: cannot load its routes; requests get 503 and the next one tries again${more ? ` (${more} more failures since the last line)` : ''}` }));
      for (const [, res] of this.waiting.splice(0)) unavailable(res, 'the HTTP API could not load (see the gateway log); try again');
    } finally {
      clearTimeout(timer);
      this.building = undefined;
    }
  }

  /** Serves with a built app, unless stopping or another build (one abandoned, ending late) won. */
  private async adopt(app: BuiltApp, t0: number, cpu0: NodeJS.CpuUsage): Promise<void> {
    if (this.closing || this.app) return app.close();
    this.app = app;
    const cpu = process.cpuUsage(cpu0);
    this.deps.log.info({ ms: Math.round(performance.now() - t0), cpu_ms: Math.round((cpu.user + cpu.system) / 1000) }, 'HTTP API: routes loaded on the first request');
    const waiting = this.waiting.splice(0);
    for (const [req, res] of waiting) if (!req.socket.destroyed) app.handler(req, res);
    // fastify's chunk into V8's compile cache now, as the start's chunks went at ready: a Pi that
    // is unplugged never exits cleanly, when Node.js would write it otherwise.
    flushCompileCache();
  }

  /** After the servers stopped accepting: waits for a build under way (bounded), then closes the app. */
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

const lookupAll = (host: string): Promise<LookupAddress[]> => new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))));

/**
 * Where to listen: `localhost` is every address it resolves to (127.0.0.1 and ::1, as fastify
 * listened when it bound the port itself: a browser may try either), any other host itself.
 * Should the lookup fail, `localhost` as given (Node.js listens on its first address).
 */
async function addressesOf(host: string, lookup: (host: string) => Promise<LookupAddress[]>): Promise<string[]> {
  if (host !== 'localhost') return [host];
  const found = await lookup(host).catch(() => []);
  const unique = [...new Set(found.map((a) => a.address))];
  return unique.length ? unique : [host];
}

/**
 * One server per address, all handing requests to `onRequest`. The first must bind (its errors
 * fail the start); the others listen on the port it got, and one that cannot (say ::1 on a
 * machine without IPv6) is left out with a line, as fastify did.
 */
async function bindAll(first: Server, addresses: string[], port: number, create: () => Server, deps: HttpServerDeps): Promise<Server[]> {
  await listen(first, addresses[0]!, port);
  const servers = [first];
  const bound = (first.address() as { port: number }).port;
  for (const address of addresses.slice(1)) {
    const server = create();
    try {
      await listen(server, address, bound);
      servers.push(server);
    } catch (err) {
      deps.log.info({ err: (err as Error).message }, `HTTP API: not listening on ${address} too`);
    }
  }
  return servers;
}

/**
 * Once listening, an error a server emits is one accepting a connection (EMFILE: out of file
 * descriptors, say); Node.js keeps listening, and so do we, with a line (rate-limited: each
 * connection attempt can repeat it) instead of an uncaught exception.
 */
function logAcceptErrors(servers: Server[], deps: HttpServerDeps): void {
  const errors = new RateLimitedLog({ intervalMs: 10_000, write: (f, m) => deps.log.warn(f, m) });
  const onError = (err: NodeJS.ErrnoException) => errors.event(err.code ?? err.message, (more) => ({ fields: { err: err.message }, msg: `HTTP API: cannot accept a connection; still listening${more ? ` (${more} more since the last line)` : ''}` }));
  for (const server of servers) server.on('error', onError);
}

const closeServer = (server: Server): Promise<void> => new Promise((resolve) => server.close(() => resolve()));

/**
 * Binds the HTTP API's port (node:http, or node:https with http.tls) and returns once it accepts;
 * the app behind it is built by the first request (LazyApp). Bind errors fail the start.
 */
export async function startHttp(deps: HttpServerDeps, load: AppLoader, opts: HttpListenerOptions = {}): Promise<RunningHttp> {
  const { host, port, tls } = deps.cfg;
  let app: LazyApp | undefined;
  const onRequest: RequestHandler = (req, res) => app!.request(req, res);
  const pem = tls.enabled ? { cert: readPem('http.tls.cert_file', tls.cert_file!), key: readPem('http.tls.key_file', tls.key_file!) } : undefined;
  // requestTimeout bounds receiving a request (headers and body), not the response: a client that
  // opens connections and sends a request slowly, or never finishes it, cannot hold them for
  // ever; the live tail (one long response to a short GET) is not affected. Node.js checks it
  // every connectionsCheckingInterval, so the bound is that late at most.
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  const options = { requestTimeout, connectionsCheckingInterval: Math.min(requestTimeout, 30_000) };
  const create = (): Server => {
    const server: Server = pem ? createHttpsServer({ ...options, ...pem }, onRequest) : createHttpServer(options, onRequest);
    // As fastify set on the server it made itself: keep-alive longer than most proxies', no
    // socket idle timeout (the live tail is one long response, quiet between lines).
    server.keepAliveTimeout = 72_000;
    server.setTimeout(0);
    return server;
  };
  // The app is built on the first server (fastify adds its clientError handling there); the
  // others hand their requests to the same app.
  const first = create();
  const lazy = (app = new LazyApp(deps, first, load, opts.buildTimeoutMs ?? 30_000));
  const servers = await bindAll(first, await addressesOf(host, opts.lookup ?? lookupAll), port, create, deps);
  logAcceptErrors(servers, deps);
  const bound = (first.address() as { port: number }).port;
  return {
    host,
    port: bound,
    url: `${tls.enabled ? 'https' : 'http'}://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${bound}`,
    get built() {
      return lazy.app !== undefined;
    },
    close: async () => {
      const closed = Promise.all(servers.map(closeServer));
      // Live tails are hijacked responses, and keep-alive connections idle ones: end them all, or
      // close() waits for them.
      for (const server of servers) server.closeAllConnections();
      await lazy.close();
      await closed;
    },
  };
}
