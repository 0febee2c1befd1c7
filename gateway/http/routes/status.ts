import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.ts';

/** EMQX's health check, without credentials: text by default, JSON with ?format=json. */
export function statusRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  const schema = {
    summary: 'Is the gateway running (no credentials needed)',
    tags: ['status'],
    querystring: { type: 'object', properties: { format: { type: 'string', enum: ['text', 'json'], default: 'text' } } },
  };
  const handler = async (req: { query: unknown }, reply: { header(k: string, v: string): unknown; type(t: string): unknown }) => {
    reply.header('retry-after', '15');
    const json = { node_name: view.node, rel_vsn: view.version, broker_status: 'started', app_status: 'running' };
    if ((req.query as { format: string }).format === 'json') return json;
    reply.type('text/plain; charset=utf-8');
    return `Node ${view.node} is started\nfieldgate is running\n`;
  };
  // HEAD too: health checkers use it (the app has no automatic HEAD routes; server.ts).
  app.route({ method: ['GET', 'HEAD'], url: '/api/v5/status', schema, config: { public: true }, handler });
  app.route({ method: ['GET', 'HEAD'], url: '/status', schema: { ...schema, hide: true }, config: { public: true }, handler });
}
