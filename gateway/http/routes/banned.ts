import type { FastifyInstance } from 'fastify';
import { BAN_KINDS, BanError, type Ban, type BanKind, type BanList } from '../../limits/banned.ts';
import { errorBody, paged, pagedOf, pageQuery, rfc3339, type PageQuery } from '../schemas.ts';
import type { OpsView } from '../view.ts';
import type { RouteDeps } from './deps.ts';

const banSchema = {
  type: 'object',
  properties: {
    as: { type: 'string', enum: [...BAN_KINDS] },
    who: { type: 'string', minLength: 1 },
    by: { type: 'string' },
    reason: { type: 'string' },
    at: { type: 'string', description: 'RFC 3339' },
    until: { type: 'string', description: 'RFC 3339 or "infinity"' },
  },
} as const;

function out(b: Ban) {
  return { as: b.as, who: b.who, by: b.by, reason: b.reason, at: rfc3339(b.at), until: b.until === undefined ? 'infinity' : rfc3339(b.until) };
}

/** RFC 3339, or epoch seconds as EMQX takes them; undefined for "infinity"; NaN when unreadable. */
function timeIn(v: string | number | undefined): number | undefined {
  if (v === undefined || v === 'infinity') return undefined;
  if (typeof v === 'number' || /^\d+$/.test(v)) return Number(v) * 1000;
  return Date.parse(v);
}

/** POST /api/v5/banned: adds a ban and, as EMQX does, kicks the connected clients it covers. */
function addBanRoute(app: FastifyInstance, { view, bans, log }: RouteDeps): void {
  app.post('/api/v5/banned', {
    schema: {
      summary: 'Ban a clientid, username or address (connected matches are kicked)',
      tags: ['banned'],
      body: { ...banSchema, required: ['as', 'who'] },
      responses: { 200: banSchema, 400: errorBody },
    },
  }, async (req, reply) => {
    const b = req.body as { as: BanKind; who: string; by?: string; reason?: string; at?: string; until?: string };
    const at = timeIn(b.at) ?? Date.now();
    const until = timeIn(b.until);
    if (Number.isNaN(at) || Number.isNaN(until)) return reply.code(400).send({ code: 'BAD_REQUEST', message: 'at and until take RFC 3339 times (until also "infinity")' });
    try {
      const ban = bans.add({ as: b.as, who: b.who, by: b.by ?? req.apiKey ?? 'mgmt_api', reason: b.reason ?? '', at, until });
      kickBanned(view, bans);
      log.info({ as: ban.as, who: ban.who, by: ban.by }, 'ban added');
      return out(ban);
    } catch (err) {
      if (err instanceof BanError) return reply.code(400).send({ code: err.code, message: err.message });
      throw err;
    }
  });
}

/** Like EMQX, a ban also ends the sessions it covers. */
function kickBanned(view: OpsView, bans: BanList): void {
  for (const t of view.clients.all()) {
    if (t.connected && bans.match({ clientid: t.session.clientid, username: t.session.username, ipaddress: t.session.ipaddress })) view.clients.kick(t.session.clientid);
  }
}

export function bannedRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const { bans } = deps;
  app.get('/api/v5/banned', {
    schema: {
      summary: 'Banned clients, usernames and addresses',
      tags: ['banned'],
      querystring: { type: 'object', properties: { ...pageQuery, clientid: { type: 'string' }, username: { type: 'string' }, peerhost: { type: 'string' } } },
      responses: { 200: pagedOf(banSchema), 400: errorBody },
    },
  }, async (req, reply) => {
    const q = req.query as PageQuery & { clientid?: string; username?: string; peerhost?: string };
    const filters = (['clientid', 'username', 'peerhost'] as const).filter((k) => q[k] !== undefined);
    if (filters.length > 1) return reply.code(400).send({ code: 'BAD_REQUEST', message: 'too_many_filters' });
    const f = filters[0];
    const rows = bans.list().filter((b) => !f || (b.as === f && b.who === q[f]));
    return paged(rows.map(out), q);
  });

  addBanRoute(app, deps);

  app.delete('/api/v5/banned/:as/:who', {
    schema: {
      summary: 'Lift one ban',
      tags: ['banned'],
      params: { type: 'object', properties: { as: { type: 'string', enum: [...BAN_KINDS] }, who: { type: 'string' } }, required: ['as', 'who'] },
      responses: { 204: { type: 'null' }, 404: errorBody },
    },
  }, async (req, reply) => {
    const p = req.params as { as: string; who: string };
    if (!bans.remove(p.as, p.who)) return reply.code(404).send({ code: 'NOT_FOUND', message: `no ban ${p.as} ${p.who}` });
    return reply.code(204).send();
  });

  app.delete('/api/v5/banned', { schema: { summary: 'Lift every ban', tags: ['banned'], responses: { 204: { type: 'null' } } } }, async (_req, reply) => {
    bans.clear();
    return reply.code(204).send();
  });
}
