import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.ts';

/** Prometheus text exposition at /metrics and at EMQX's /api/v5/prometheus/stats. */
export function metricsRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  const handler = async (_req: unknown, reply: { type(t: string): unknown }) => {
    const { contentType, text } = await view.metrics();
    reply.type(contentType);
    return text;
  };
  const schema = { summary: 'Prometheus metrics (text exposition format)', tags: ['metrics'], produces: ['text/plain'] };
  // HEAD on /metrics too (a scrape target's reachability check); not on the EMQX alias.
  app.route({ method: ['GET', 'HEAD'], url: '/metrics', schema, handler });
  app.get('/api/v5/prometheus/stats', { schema }, handler);
}
