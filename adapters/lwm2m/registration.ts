// The LwM2M registration interface's requests (OMA-TS-LightweightM2M-V1_1 6.2, 8.2): Register and
// Update queries and payloads, parsed and checked, and the register/update event JSON. Pure.
import { parseLinks } from './codec/link.ts';
import { CodecError } from './codec/values.ts';

/** Removed from everything published (EMQX: assert_no_secret_register_fields). */
const SECRET = new Set(['password', 'secret', 'private_key', 'access_token']);
const VERSIONS = new Set(['1.0', '1', '1.1', '1.2']);
const QUEUE_BINDINGS = new Set(['UQ', 'SQ', 'UQS']);
/** An Update's parameters (LwM2M 1.1 5.3.2). `lwm2m` is tolerated and ignored: some clients repeat it. */
const UPDATE_PARAMS = new Set(['lt', 'b', 'sms', 'Q', 'lwm2m']);

/**
 * What one registration may hold: it lives as long as the device, is republished on every update
 * event and is sent by a peer that has not authenticated yet, so every part of it is bounded.
 */
export const REG_LIMITS = { params: 32, queryBytes: 2048, links: 1000, linkBytes: 32 * 1024 };

export interface RegInfo {
  /** Every query parameter as sent (flags like `Q` as ""), secrets included: only for authentication. */
  params: Record<string, string>;
  ep?: string;
  lt?: number;
  objectList?: string[];
  alternatePath?: string;
}

export type Parsed = { ok: true; info: RegInfo } | { ok: false; message: string };

export function parseQuery(query: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const q of query) {
    const eq = q.indexOf('=');
    const k = eq < 0 ? q : q.slice(0, eq);
    if (k === '' || k === '__proto__') continue;
    params[k] = eq < 0 ? '' : q.slice(eq + 1);
  }
  return params;
}

function lifetime(raw: string | undefined): number | undefined | null {
  if (raw === undefined) return undefined;
  return /^\d{1,10}$/.test(raw) ? Number(raw) : null;
}

function queryTooBig(query: readonly string[]): string | undefined {
  if (query.length > REG_LIMITS.params) return `too many query parameters (${query.length}, max ${REG_LIMITS.params})`;
  const bytes = query.reduce((n, q) => n + Buffer.byteLength(q) + 1, 0);
  if (bytes > REG_LIMITS.queryBytes) return `query too long (${bytes} bytes, max ${REG_LIMITS.queryBytes})`;
  return undefined;
}

/** The object links of a register/update payload, and the alternate path (`rt="oma.lwm2m"`). */
export function objectLinks(payload: Buffer): { objectList: string[]; alternatePath: string } {
  if (payload.length > REG_LIMITS.linkBytes) throw new CodecError(`${payload.length} bytes, max ${REG_LIMITS.linkBytes}`);
  const links = parseLinks(payload.toString('utf8'));
  if (links.length > REG_LIMITS.links) throw new CodecError(`${links.length} links, max ${REG_LIMITS.links}`);
  const alt = links.find((l) => l.attrs.rt === 'oma.lwm2m');
  const root = alt ? alt.uri.replace(/\/+$/, '') : '';
  const objectList: string[] = [];
  for (const l of links) {
    if (l === alt) continue;
    let uri = l.uri;
    if (root && uri.startsWith(`${root}/`)) uri = uri.slice(root.length);
    objectList.push(uri);
  }
  return { objectList, alternatePath: alt ? (root || '/') : '/' };
}

/** Register: `ep` and `lt` are required (EMQX: "Login Failed: invalid queries"), `lwm2m` must be known. */
export function parseRegister(query: readonly string[], payload: Buffer): Parsed {
  const big = queryTooBig(query);
  if (big) return { ok: false, message: `Login Failed: ${big}` };
  const params = parseQuery(query);
  const lt = lifetime(params.lt);
  if (!params.ep || lt === undefined || lt === null) return { ok: false, message: 'Login Failed: invalid queries' };
  if (params.lwm2m !== undefined && !VERSIONS.has(params.lwm2m)) return { ok: false, message: 'Login Failed: invalid lwm2m version' };
  const info: RegInfo = { params, ep: params.ep, lt };
  if (payload.length > 0) {
    try {
      Object.assign(info, objectLinks(payload));
    } catch (err) {
      return { ok: false, message: `Login Failed: invalid object links: ${(err as CodecError).message}` };
    }
  }
  return { ok: true, info };
}

/** Update: every parameter optional, only the spec's; `lt` must be a number when present. */
export function parseUpdate(query: readonly string[], payload: Buffer): Parsed {
  const big = queryTooBig(query);
  if (big) return { ok: false, message: big };
  const params = parseQuery(query);
  const unknown = Object.keys(params).find((k) => !UPDATE_PARAMS.has(k));
  if (unknown !== undefined) return { ok: false, message: `unknown Update parameter "${unknown.slice(0, 32)}": an Update takes lt, b, sms and Q` };
  delete params.lwm2m; // the version is fixed by the Register
  const lt = lifetime(params.lt);
  if (lt === null) return { ok: false, message: 'invalid lt' };
  const info: RegInfo = { params, lt };
  if (payload.length > 0) {
    try {
      Object.assign(info, objectLinks(payload));
    } catch (err) {
      return { ok: false, message: `invalid object links: ${(err as CodecError).message}` };
    }
  }
  return { ok: true, info };
}

/** Merges an Update into the registration (old values kept unless the Update names them). */
export function merge(base: RegInfo, upd: RegInfo): RegInfo {
  const out: RegInfo = { ...base, params: { ...base.params, ...upd.params } };
  if (upd.lt !== undefined) out.lt = upd.lt;
  if (upd.objectList) {
    out.objectList = upd.objectList;
    out.alternatePath = upd.alternatePath;
  }
  return out;
}

/** Queue mode: binding UQ/SQ/UQS (1.0) or the `Q` parameter (1.1). */
export function isQueueMode(info: RegInfo): boolean {
  return QUEUE_BINDINGS.has(info.params.b ?? '') || info.params.Q !== undefined;
}

/** The register/update event's `data`: the query without secrets, `lt` as a number, links when sent. */
export function eventData(info: RegInfo, withLinks: boolean): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(info.params)) if (!SECRET.has(k)) data[k] = v;
  if (info.params.lt !== undefined && info.lt !== undefined) data.lt = info.lt;
  if (withLinks && info.objectList) {
    data.alternatePath = info.alternatePath;
    data.objectList = info.objectList;
  }
  return data;
}
