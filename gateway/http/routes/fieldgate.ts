import type { FastifyInstance } from 'fastify';
import { errorBody, paged, pagedOf, pageQuery, rfc3339, type PageQuery } from '../schemas.ts';
import type { OpsView } from '../view.ts';
import type { RouteDeps } from './deps.ts';

const upstream = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    connected: { type: 'boolean' },
    server: { type: ['string', 'null'] },
    last_error: { type: ['string', 'null'] },
    queue: { type: 'object', properties: { messages: { type: 'integer' }, bytes: { type: 'integer' }, oldest_age_ms: { type: 'integer' } }, description: 'the shared log: every upstream reads it' },
    inflight: { type: 'integer' },
    forwarded: { type: 'integer' },
    dropped: { type: 'object', additionalProperties: { type: 'integer' }, description: 'messages dropped, by reason' },
    log_bytes_written: { type: 'integer' },
    log_syncs: { type: 'integer' },
  },
} as const;

const adapter = {
  type: 'object',
  properties: { name: { type: 'string' }, state: { type: 'string' }, restarts: { type: 'integer' }, last_error: { type: ['string', 'null'] }, devices_online: { type: 'integer' } },
} as const;

const device = {
  type: 'object',
  properties: {
    protocol: { type: 'string' },
    id: { type: 'string' },
    transport: { type: ['string', 'null'] },
    address: { type: ['string', 'null'] },
    via: { type: ['string', 'null'] },
    username: { type: ['string', 'null'] },
    online: { type: 'boolean' },
    first_seen: { type: ['string', 'null'] },
    last_seen: { type: ['string', 'null'] },
  },
} as const;

const component = {
  type: 'object',
  properties: { name: { type: 'string' }, state: { type: 'string' }, restarts: { type: 'integer' }, last_error: { type: ['string', 'null'] } },
} as const;

export function componentsOf(view: OpsView) {
  return view.components().map((c) => ({ name: c.name, state: c.state, restarts: c.restarts, last_error: c.last_error ?? null }));
}

/** Online devices of an adapter: under its name and the device protocols it declares (modem: lora, nbiot). */
export function onlineDevices(view: OpsView, a: { name: string; protocols?: readonly string[] }): number {
  return [a.name, ...(a.protocols ?? [])].reduce((n, p) => n + view.devices(p).filter((d) => d.online).length, 0);
}

export function adaptersOf(view: OpsView) {
  return view.adapters().map((a) => ({ name: a.name, state: a.state, restarts: a.restarts, last_error: a.last_error ?? null, devices_online: onlineDevices(view, a) }));
}

/** What the status page and `fieldgate status` show, in one request. */
export function summaryOf(view: OpsView) {
  const m = view.snapshot();
  const devices = view.devices();
  return {
    node: view.node,
    version: view.version,
    uptime_s: Math.round((Date.now() - view.startedAt) / 1000),
    started_at: rfc3339(view.startedAt),
    adapters: adaptersOf(view),
    components: componentsOf(view),
    bridge: view.bridge(),
    clients: { connected: view.clients.connectedCount, total: view.clients.all().length },
    devices: { total: devices.length, online: devices.filter((d) => d.online).length },
    messages: { received: m['messages/received'] ?? 0, dropped: m['messages/dropped'] ?? 0 },
  };
}

export function fieldgateRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  app.get('/api/v5/bridge', {
    schema: { summary: 'The upstream bridge, per upstream', tags: ['fieldgate'], responses: { 200: { type: 'array', items: upstream } } },
  }, async () => view.bridge());

  app.get('/api/v5/adapters', {
    schema: { summary: 'Protocol adapters: health, restarts, last error', tags: ['fieldgate'], responses: { 200: { type: 'array', items: adapter } } },
  }, async () => adaptersOf(view));

  app.get('/api/v5/components', {
    schema: { summary: 'Supervised components that are not adapters (the HTTP API): health, restarts, last error', tags: ['fieldgate'], responses: { 200: { type: 'array', items: component } } },
  }, async () => componentsOf(view));

  app.post('/api/v5/adapters/:name/restart', {
    schema: { summary: 'Restart an adapter now (its devices are disconnected with reason "kicked")', tags: ['fieldgate'], params: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }, responses: { 204: { type: 'null' }, 404: errorBody } },
  }, async (req, reply) => {
    const name = (req.params as { name: string }).name;
    if (!(await view.restartAdapter(name))) return reply.code(404).send({ code: 'NOT_FOUND', message: `no enabled adapter ${name}` });
    req.log.info({ adapter: name, by: req.apiKey ?? 'loopback' }, 'adapter restarted');
    return reply.code(204).send();
  });

  app.delete('/api/v5/devices/:protocol/:id', {
    schema: { summary: "End a device's session in its adapter (reason \"kicked\")", tags: ['fieldgate'], params: { type: 'object', properties: { protocol: { type: 'string' }, id: { type: 'string' } }, required: ['protocol', 'id'] }, responses: { 204: { type: 'null' }, 400: errorBody, 404: errorBody } },
  }, async (req, reply) => {
    const { protocol, id } = req.params as { protocol: string; id: string };
    const r = await view.disconnectDevice(protocol, id);
    if (r === 'unsupported') return reply.code(400).send({ code: 'NOT_SUPPORTED', message: `the ${protocol} adapter has no device sessions to end` });
    if (r === 'not_found') return reply.code(404).send({ code: 'NOT_FOUND', message: `no ${protocol} device ${id} with a session to end (GET /api/v5/devices lists each device's protocol; docs/operations.md says which devices have sessions)` });
    req.log.info({ protocol, id, by: req.apiKey ?? 'loopback' }, 'device disconnected');
    return reply.code(204).send();
  });

  app.get('/api/v5/devices', {
    schema: {
      summary: 'Every device any adapter has seen (the registry)',
      tags: ['fieldgate'],
      querystring: { type: 'object', properties: { ...pageQuery, protocol: { type: 'string' }, online: { type: 'boolean' } } },
      responses: { 200: pagedOf(device) },
    },
  }, async (req) => {
    const q = req.query as PageQuery & { protocol?: string; online?: boolean };
    const rows = view.devices(q.protocol)
      .filter((d) => q.online === undefined || d.online === q.online)
      .sort((a, b) => b.last_seen - a.last_seen)
      .map((d) => ({ protocol: d.protocol, id: d.id, transport: d.transport ?? null, address: d.address ?? null, via: d.via ?? null, username: d.username ?? null, online: d.online, first_seen: rfc3339(d.first_seen), last_seen: rfc3339(d.last_seen) }));
    return paged(rows, q);
  });

  app.get('/api/v5/summary', {
    schema: { summary: 'Everything the status page shows, in one object (fieldgate status prints it)', tags: ['fieldgate'] },
  }, async () => summaryOf(view));
}
