// The LwM2M registration interface's requests (OMA-TS-LightweightM2M-V1_1 6.2, 8.2): Register and
// Update queries and payloads, parsed and checked, and the register/update event JSON. Pure.
import { parseLinks } from './codec/link.ts';
import { CodecError } from './codec/values.ts';

/** Removed from everything published (EMQX: assert_no_secret_register_fields). */
const SECRET = new Set(['password', 'secret', 'private_key', 'access_token']);
const VERSIONS = new Set(['1.0', '1', '1.1', '1.2']);
const QUEUE_BINDINGS = new Set(['UQ', 'SQ', 'UQS']);

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

/** The object links of a register/update payload, and the alternate path (`rt="oma.lwm2m"`). */
export function objectLinks(payload: Buffer): { objectList: string[]; alternatePath: string } {
  const links = parseLinks(payload.toString('utf8'));
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

/** Update: every parameter optional; `lt` must be a number when present. */
export function parseUpdate(query: readonly string[], payload: Buffer): Parsed {
  const params = parseQuery(query);
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
