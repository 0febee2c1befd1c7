import type { FastifyInstance, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifySchema {
    summary?: string;
    tags?: string[];
    /** Left out of the OpenAPI document (the page's files). */
    hide?: boolean;
    produces?: string[];
    /**
     * Response bodies by status, for the OpenAPI document only. Not `response`: fastify would
     * compile a serializer per route at start, which costs start-up time and memory on a Pi.
     */
    responses?: Record<string, object>;
  }
}

interface RouteSchema {
  summary?: string;
  tags?: string[];
  hide?: boolean;
  produces?: string[];
  params?: { properties?: Record<string, object>; required?: string[] };
  querystring?: { properties?: Record<string, object>; required?: string[] };
  body?: object;
  responses?: Record<string, object>;
}

type Doc = { openapi: string; info: object; components: object; security: object[]; paths: Record<string, Record<string, object>> };

function parameters(where: 'path' | 'query', s: RouteSchema['params']) {
  return Object.entries(s?.properties ?? {}).map(([name, schema]) => ({ name, in: where, required: where === 'path' || (s?.required ?? []).includes(name), schema }));
}

/** One route's OpenAPI operation, from its schema. */
function operation(route: RouteOptions, s: RouteSchema): object {
  const responses: Record<string, object> = {};
  for (const [code, schema] of Object.entries(s.responses ?? {})) {
    responses[code] = (schema as { type?: string }).type === 'null' ? { description: 'no content' } : { description: code.startsWith('2') ? 'ok' : 'error', content: { 'application/json': { schema } } };
  }
  if (!Object.keys(responses).length) responses['200'] = { description: 'ok', content: Object.fromEntries((s.produces ?? ['application/json']).map((t) => [t, {}])) };
  const op: Record<string, unknown> = {
    summary: s.summary,
    tags: s.tags,
    parameters: [...parameters('path', s.params), ...parameters('query', s.querystring)],
    responses,
  };
  if (s.body) op.requestBody = { required: true, content: { 'application/json': { schema: s.body } } };
  if (route.config && (route.config as { public?: boolean }).public) op.security = [];
  return op;
}

/**
 * Collects every route's schema as fastify registers it (the same objects it validates with) and
 * serves them as an OpenAPI 3.0 document at /api/v5/openapi.json, built on its first request
 * rather than at every start (issue 16: start-up time on a Pi).
 */
export function openapi(app: FastifyInstance, info: { version: string }): void {
  const routes: RouteOptions[] = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    if (route.schema && !(route.schema as RouteSchema).hide) routes.push(route);
  });
  let doc: Doc | undefined;
  const build = (): Doc => {
    const d: Doc = {
      openapi: '3.0.3',
      info: { title: 'fieldgate management API', version: info.version, description: 'The EMQX v5 subset tooling uses, plus fieldgate\'s own endpoints. HTTP Basic: API key as user, its secret as password (fieldgate apikey create NAME).' },
      components: { securitySchemes: { basicAuth: { type: 'http', scheme: 'basic' } } },
      security: [{ basicAuth: [] }],
      paths: {},
    };
    for (const route of routes) {
      // HEAD is GET without a body: not an operation of its own.
      const methods = (Array.isArray(route.method) ? route.method : [route.method]).filter((m) => m !== 'HEAD').map((m) => m.toLowerCase());
      if (!methods.length) continue;
      const path = route.url.replace(/:([A-Za-z_]+)/g, '{$1}');
      const op = operation(route, route.schema as RouteSchema);
      d.paths[path] ??= {};
      for (const m of methods) d.paths[path][m] = op;
    }
    return d;
  };
  app.get('/api/v5/openapi.json', { schema: { hide: true } }, async () => (doc ??= build()));
}
