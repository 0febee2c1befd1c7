import { readFileSync } from 'node:fs';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Logger } from '../log/logger.ts';
import type { ApiKeyStore } from './apikeys.ts';
import { authHook } from './auth.ts';
import type { HttpConfig } from './config.ts';
import { openapi } from './openapi.ts';
import { bannedRoutes } from './routes/banned.ts';
import { clientRoutes } from './routes/clients.ts';
import type { RouteDeps } from './routes/deps.ts';
import { fieldgateRoutes } from './routes/fieldgate.ts';
import { gatewayRoutes } from './routes/gateways.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { pageRoutes } from './routes/page.ts';
import { publishRoutes } from './routes/publish.ts';
import { statusRoutes } from './routes/status.ts';
import { traceRoutes } from './routes/trace.ts';
import { validatorCompiler } from './validate.ts';

export interface HttpServerDeps extends RouteDeps {
  keys: ApiKeyStore;
}

export interface RunningHttp {
  host: string;
  port: number;
  url: string;
  close(): Promise<void>;
}

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read ${option} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (check the path and that the fieldgate user may read it)`);
  }
}

type CompilersFactory = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;

/**
 * fastify's compiler factories, given so it never loads its defaults: ajv (@fastify/ajv-compiler)
 * and fast-json-stringify are required when no factory is passed, and loading them was the largest
 * part of what the HTTP API added to start-up (issue 16). Requests are checked by validate.ts; no
 * route has a response schema, so replies are serialised as without one, by JSON.stringify.
 * The cast: fastify types buildValidator as ajv's factory, whose compiled function is an ajv
 * ValidateFunction, where fastify itself accepts the `{ value } | { error }` shape validate.ts
 * returns (the shape setValidatorCompiler is typed with).
 */
const compilersFactory: CompilersFactory = {
  buildValidator: (() => validatorCompiler) as unknown as CompilersFactory['buildValidator'],
  buildSerializer: () => () => (data: unknown) => JSON.stringify(data),
};

/** Builds the fastify app with every route; not listening yet (tests may inject). */
export function buildApp(deps: HttpServerDeps): FastifyInstance {
  const { cfg } = deps;
  const app = Fastify({
    // Our own log lines only: fastify's request logging would print URLs and, at debug, headers.
    logger: false,
    bodyLimit: 2 * 1024 * 1024,
    // No HEAD twin for every GET (23 routes more to set up at each start, issue 16): HEAD is
    // registered where a health checker or a person uses it (/, /status, /api/v5/status, /metrics).
    exposeHeadRoutes: false,
    // Every route is registered through avvio, which otherwise arms and clears a 10 s timer per
    // route at start; nothing here loads asynchronously that could hang.
    pluginTimeout: 0,
    schemaController: { compilersFactory },
    ...(cfg.tls.enabled ? { https: { cert: readPem('http.tls.cert_file', cfg.tls.cert_file!), key: readPem('http.tls.key_file', cfg.tls.key_file!) } } : {}),
  });
  app.addHook('onRequest', authHook({ keys: deps.keys, anonymousRead: cfg.anonymous_read, failureRate: cfg.auth_failure_rate, log: deps.log }));
  app.setErrorHandler((err: FastifyError, _req, reply) => {
    if (err.validation || err.code === 'FST_ERR_VALIDATION') {
      const code = err.validationContext === 'querystring' || err.validationContext === 'params' ? 'INVALID_PARAMETER' : 'BAD_REQUEST';
      return reply.code(400).send({ code, message: `${err.validationContext ?? 'request'} ${err.message.replace(/^(querystring|body|params)\/?/, '')}` });
    }
    if (err.statusCode && err.statusCode < 500) return reply.code(err.statusCode).send({ code: err.code ?? 'BAD_REQUEST', message: err.message });
    deps.log.error({ err: err.message }, 'HTTP API: internal error');
    return reply.code(500).send({ code: 'INTERNAL_ERROR', message: err.message });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` }));
  openapi(app, { version: deps.view.version });
  for (const routes of [statusRoutes, clientRoutes, gatewayRoutes, publishRoutes, fieldgateRoutes, bannedRoutes, traceRoutes, metricsRoutes, pageRoutes]) routes(app, deps);
  return app;
}

export async function startHttp(deps: HttpServerDeps): Promise<RunningHttp> {
  const app = buildApp(deps);
  const { host, port } = deps.cfg;
  try {
    await app.listen({ host, port });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    await app.close().catch(() => {});
    const why = e.code === 'EADDRINUSE' ? 'address already in use (is another fieldgate or EMQX dashboard running?)' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' ? 'address not available on this machine' : e.message;
    throw new Error(`cannot start the HTTP API on ${host}:${port}: ${why}; change http.port or http.host (or set http.enabled: false)`);
  }
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  const scheme = deps.cfg.tls.enabled ? 'https' : 'http';
  return {
    host,
    port: bound,
    url: `${scheme}://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${bound}`,
    close: async () => {
      // Live tails are hijacked responses: end them, or close() waits for them forever.
      app.server.closeAllConnections();
      await app.close();
    },
  };
}
