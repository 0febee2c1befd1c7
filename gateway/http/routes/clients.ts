import type { FastifyInstance } from 'fastify';
import { ClientTracker, type TrackedClient } from '../clients.ts';
import { clientSchema, errorBody, paged, pagedOf, pageQuery, rfc3339, subscriptionSchema, type PageQuery } from '../schemas.ts';
import type { OpsView } from '../view.ts';
import type { RouteDeps } from './deps.ts';

const strings = { type: 'array', items: { type: 'string' } } as const;

interface ClientQuery extends PageQuery {
  clientid?: string[];
  username?: string[];
  ip_address?: string;
  conn_state?: 'connected' | 'disconnected';
  proto_name?: string;
  like_clientid?: string;
  _like_clientid?: string;
  like_username?: string;
}

function ipOf(addr: string | undefined): string | null {
  if (!addr) return null;
  return addr.startsWith('::ffff:') ? addr.slice(7) : addr;
}

/** One client in EMQX's field names (emqx_mgmt_api_clients). */
export function clientObject(view: OpsView, t: TrackedClient) {
  const s = t.session;
  const o = ClientTracker.octets(t);
  return {
    clientid: s.clientid,
    username: s.username ?? null,
    node: view.node,
    ip_address: ipOf(s.ipaddress),
    port: o.port ?? null,
    listener: `${s.listener ?? 'tcp'}:default`,
    mountpoint: null,
    proto_name: s.proto_name,
    proto_ver: s.proto_ver,
    clean_start: s.clean_start,
    keepalive: s.keepalive,
    // A clean session ends with its connection; a persistent one lives broker.session_expiry_interval offline.
    expiry_interval: s.clean_start ? 0 : view.session.expiry_interval,
    connected: t.connected,
    conn_state: t.connected ? 'connected' : 'disconnected',
    connected_at: rfc3339(s.connected_at),
    created_at: rfc3339(s.connected_at),
    disconnected_at: t.connected ? null : rfc3339(t.disconnected_at),
    is_bridge: false,
    is_expired: false,
    durable: false,
    subscriptions_cnt: t.subs.size,
    subscriptions_max: 'infinity',
    recv_msg: t.recv_msg,
    mqueue_max: view.session.mqueue_max,
    ...view.clients.counters(t),
    ...(o.recv_oct !== undefined ? { recv_oct: o.recv_oct, send_oct: o.send_oct } : {}),
  };
}

function filterClients(all: TrackedClient[], q: ClientQuery): TrackedClient[] {
  const like = q.like_clientid ?? q._like_clientid;
  return all.filter((t) => {
    const s = t.session;
    if (q.clientid && !q.clientid.includes(s.clientid)) return false;
    if (q.username && !q.username.includes(s.username ?? '')) return false;
    if (q.ip_address && ipOf(s.ipaddress) !== q.ip_address) return false;
    if (q.conn_state && (t.connected ? 'connected' : 'disconnected') !== q.conn_state) return false;
    if (q.proto_name && s.proto_name !== q.proto_name) return false;
    if (like && !s.clientid.includes(like)) return false;
    if (q.like_username && !(s.username ?? '').includes(q.like_username)) return false;
    return true;
  });
}

export function subscriptionObject(view: OpsView, s: { clientid: string; topic: string; qos: number }) {
  return { node: view.node, clientid: s.clientid, topic: s.topic, qos: s.qos, nl: 0, rap: 0, rh: 0, durable: false };
}

const clientParams = { type: 'object', properties: { clientid: { type: 'string' } }, required: ['clientid'] } as const;
const notFound = { code: 'CLIENTID_NOT_FOUND', message: 'Client ID not found' };

const clientQuery = {
  type: 'object',
  properties: {
    ...pageQuery,
    clientid: strings,
    username: strings,
    ip_address: { type: 'string' },
    conn_state: { type: 'string', enum: ['connected', 'disconnected'] },
    proto_name: { type: 'string' },
    like_clientid: { type: 'string' },
    _like_clientid: { type: 'string', description: 'EMQX 4 name of like_clientid' },
    like_username: { type: 'string' },
  },
} as const;

/** The lists: every client, and every subscription. */
function listRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  app.get('/api/v5/clients', {
    schema: { summary: 'MQTT clients (EMQX fields and paging)', tags: ['clients'], querystring: clientQuery, responses: { 200: pagedOf(clientSchema) } },
  }, async (req) => {
    const q = req.query as ClientQuery;
    const rows = filterClients(view.clients.all(), q).map((t) => clientObject(view, t));
    return paged(rows, q, !(q.like_clientid ?? q._like_clientid ?? q.like_username));
  });

  app.get('/api/v5/subscriptions', {
    schema: {
      summary: 'Every MQTT subscription (EMQX paging)',
      tags: ['subscriptions'],
      querystring: { type: 'object', properties: { ...pageQuery, clientid: { type: 'string' }, topic: { type: 'string' }, qos: { type: 'integer', minimum: 0, maximum: 2 } } },
      responses: { 200: pagedOf(subscriptionSchema) },
    },
  }, async (req) => {
    const q = req.query as PageQuery & { clientid?: string; topic?: string; qos?: number };
    const rows = view.clients.subscriptions().filter((s) => (!q.clientid || s.clientid === q.clientid) && (!q.topic || s.topic === q.topic) && (q.qos === undefined || s.qos === q.qos));
    return paged(rows.map((s) => subscriptionObject(view, s)), q);
  });
}

/** One client: read it, kick it, its subscriptions. */
function oneClientRoutes(app: FastifyInstance, { view }: RouteDeps): void {
  app.get('/api/v5/clients/:clientid', {
    schema: { summary: 'One MQTT client', tags: ['clients'], params: clientParams, responses: { 200: clientSchema, 404: errorBody } },
  }, async (req, reply) => {
    const t = view.clients.get((req.params as { clientid: string }).clientid);
    return t ? clientObject(view, t) : reply.code(404).send(notFound);
  });

  app.delete('/api/v5/clients/:clientid', {
    schema: { summary: 'Kick a connected client (disconnect reason "kicked")', tags: ['clients'], params: clientParams, responses: { 204: { type: 'null' }, 404: errorBody } },
  }, async (req, reply) => {
    const id = (req.params as { clientid: string }).clientid;
    if (!view.clients.kick(id)) return reply.code(404).send(view.clients.get(id) ? { code: 'CLIENTID_NOT_FOUND', message: 'Client is not connected (its persistent session is kept)' } : notFound);
    req.log.info({ clientid: id, by: req.apiKey ?? 'loopback' }, 'client kicked');
    return reply.code(204).send();
  });

  app.get('/api/v5/clients/:clientid/subscriptions', {
    schema: { summary: "A client's subscriptions (a plain array, as in EMQX)", tags: ['clients'], params: clientParams, responses: { 200: { type: 'array', items: subscriptionSchema }, 404: errorBody } },
  }, async (req, reply) => {
    const t = view.clients.get((req.params as { clientid: string }).clientid);
    if (!t) return reply.code(404).send(notFound);
    return [...t.subs].map(([topic, qos]) => subscriptionObject(view, { clientid: t.session.clientid, topic, qos }));
  });
}

export function clientRoutes(app: FastifyInstance, deps: RouteDeps): void {
  listRoutes(app, deps);
  oneClientRoutes(app, deps);
}
