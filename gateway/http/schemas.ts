// JSON Schemas shared by the routes: fastify validates requests with them and the OpenAPI document
// (openapi.ts) is generated from the same objects.

export const errorBody = {
  type: 'object',
  properties: { code: { type: 'string' }, message: { type: 'string' } },
  required: ['code', 'message'],
} as const;

export const pageQuery = {
  page: { type: 'integer', minimum: 1, default: 1, description: 'page number, from 1' },
  limit: { type: 'integer', minimum: 1, maximum: 10000, default: 100, description: 'rows per page (1-10000)' },
} as const;

export const metaSchema = {
  type: 'object',
  properties: {
    page: { type: 'integer' },
    limit: { type: 'integer' },
    count: { type: 'integer', description: 'total matching rows; absent when a like_ filter is used' },
    hasnext: { type: 'boolean' },
  },
  required: ['page', 'limit', 'hasnext'],
} as const;

export function pagedOf(item: object) {
  return { type: 'object', properties: { data: { type: 'array', items: item }, meta: metaSchema }, required: ['data', 'meta'] } as const;
}

export interface PageQuery {
  page: number;
  limit: number;
}

/** EMQX paging: `data` plus `meta {page, limit, hasnext, count?}`. */
export function paged<T>(rows: T[], q: PageQuery, countable = true) {
  const start = (q.page - 1) * q.limit;
  const data = rows.slice(start, start + q.limit);
  const meta: { page: number; limit: number; hasnext: boolean; count?: number } = { page: q.page, limit: q.limit, hasnext: start + q.limit < rows.length };
  if (countable) meta.count = rows.length;
  return { data, meta };
}

/** EMQX prints times as RFC 3339 with milliseconds and an offset (`+00:00` on a UTC host). */
export function rfc3339(ms: number | undefined): string | null {
  if (ms === undefined || !Number.isFinite(ms)) return null;
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const local = new Date(ms + off * 60_000).toISOString().slice(0, -1);
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

const str = { type: 'string' } as const;
const nstr = { type: ['string', 'null'] } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;

export const clientSchema = {
  type: 'object',
  properties: {
    clientid: str,
    username: nstr,
    node: str,
    ip_address: nstr,
    port: { type: ['integer', 'null'] },
    listener: str,
    mountpoint: nstr,
    proto_name: str,
    proto_ver: { type: ['integer', 'string'] },
    clean_start: bool,
    keepalive: int,
    expiry_interval: { type: 'integer', description: 'seconds a persistent session outlives its connection (4294967295: never); 0 for a clean session' },
    connected: bool,
    conn_state: str,
    connected_at: nstr,
    created_at: nstr,
    disconnected_at: nstr,
    is_bridge: bool,
    is_expired: bool,
    durable: bool,
    subscriptions_cnt: int,
    subscriptions_max: { type: ['integer', 'string'] },
    recv_msg: { type: 'integer', description: 'PUBLISH packets received' },
    recv_cnt: { type: 'integer', description: 'socket reads (while connected)' },
    recv_pkt: { type: 'integer', description: 'MQTT packets received (while connected)' },
    send_msg: { type: 'integer', description: 'PUBLISH packets sent (while connected)' },
    send_pkt: { type: 'integer', description: 'MQTT packets sent (while connected)' },
    mqueue_len: { type: 'integer', description: 'messages waiting in the session queue (persistent sessions; 0 for a clean session)' },
    mqueue_max: { type: 'integer', description: 'most messages a session queue holds (broker.max_queued_messages, in-flight included)' },
    inflight_cnt: { type: 'integer', description: 'QoS 1/2 messages sent and not yet acknowledged (a persistent session: from its store; a clean one: while connected)' },
    recv_oct: int,
    send_oct: int,
  },
} as const;

export const subscriptionSchema = {
  type: 'object',
  properties: { node: str, clientid: str, topic: str, qos: int, nl: int, rap: int, rh: int, durable: bool },
} as const;
