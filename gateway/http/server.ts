import type { Server } from 'node:http';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { authHook } from './auth.ts';
import type { BuiltApp, HttpServerDeps } from './listener.ts';
import { openapi } from './openapi.ts';
import { bannedRoutes } from './routes/banned.ts';
import { clientRoutes } from './routes/clients.ts';
import { fieldgateRoutes } from './routes/fieldgate.ts';
import { gatewayRoutes } from './routes/gateways.ts';
import { metricsRoutes } from './routes/metrics.ts';
import { pageRoutes } from './routes/page.ts';
import { publishRoutes } from './routes/publish.ts';
import { statusRoutes } from './routes/status.ts';
import { traceRoutes } from './routes/trace.ts';
import { validatorCompiler } from './validate.ts';

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

/**
 * The fastify app with every route, serving on `server` (listener.ts made and bound it): fastify's
 * documented serverFactory option hands over its request handler, and the server given is used
 * as is (fastify neither listens nor closes it). Not ready yet.
 */
export function buildApp(deps: HttpServerDeps, server: Server): { app: FastifyInstance; handler: () => BuiltApp['handler'] } {
  let handler: BuiltApp['handler'] | undefined;
  const app = Fastify({
    serverFactory: (h) => {
      handler = h;
      return server;
    },
    // Our own log lines only: fastify's request logging would print URLs and, at debug, headers.
    logger: false,
    bodyLimit: 2 * 1024 * 1024,
    // No HEAD twin for every GET (23 routes more to set up, issue 16): HEAD is registered where a
    // health checker or a person uses it (/, /status, /api/v5/status, /metrics).
    exposeHeadRoutes: false,
    // Every route is registered through avvio, which otherwise arms and clears a 10 s timer per
    // route; nothing here loads asynchronously that could hang.
    pluginTimeout: 0,
    schemaController: { compilersFactory },
  });
  app.addHook('onRequest', authHook({ keys: deps.keys, anonymousRead: deps.cfg.anonymous_read, failureRate: deps.cfg.auth_failure_rate, log: deps.log }));
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
  return { app, handler: () => handler! };
}

/**
 * What listener.ts loads on the first request: the app built on its server and ready. A failure
 * leaves nothing behind on the server (fastify adds a clientError listener when it is created),
 * so the next request can build it again; so does closing the app (one a build that took too
 * long made after all, listener.ts). `beforeReady`: tests add to the app there, such as a plugin
 * that fails its ready().
 */
export async function loadApp(deps: HttpServerDeps, server: Server, beforeReady?: (app: FastifyInstance) => void): Promise<BuiltApp> {
  const before = new Set(server.listeners('clientError'));
  const detach = () => {
    for (const l of server.listeners('clientError')) if (!before.has(l)) server.off('clientError', l as () => void);
  };
  let app: FastifyInstance | undefined;
  try {
    const built = buildApp(deps, server);
    app = built.app;
    beforeReady?.(app);
    await app.ready();
    const ready = app;
    return { handler: built.handler(), close: () => ready.close().finally(detach) };
  } catch (err) {
    detach();
    await app?.close().catch(() => {});
    throw err;
  }
}
