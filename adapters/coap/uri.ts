// Request URI parsing for the EMQX CoAP contract (../shared/reference/emqx-gateway.md section 1):
// pure functions from Uri-Path / Uri-Query option values to a route and query, so they can be
// tested against malformed input without a socket.

export type Route =
  | { kind: 'ps'; topic: string }
  | { kind: 'connection' }
  | { kind: 'legacy'; topic: string }
  | { kind: 'wellknown' }
  | { kind: 'unknown'; path: string };

export interface Query {
  clientid?: string;
  username?: string;
  password?: string;
  token?: string;
  qos?: string;
  retain?: string;
  expiry?: string;
}

/** EMQX's ?QUERY_PARAMS_MAPPING short names. */
const SHORT: Record<string, keyof Query> = { c: 'clientid', u: 'username', p: 'password', t: 'token', q: 'qos', r: 'retain' };
const LONG = new Set<keyof Query>(['clientid', 'username', 'password', 'token', 'qos', 'retain', 'expiry']);

/**
 * Percent-decodes once more, as EMQX does (`uri_decode`) after the client already decoded the URI
 * into options; a string that is not valid percent-encoding (a lone "%", bad UTF-8) stays as sent.
 */
export function percentDecode(s: string): string {
  if (!s.includes('%')) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Routes a request by its Uri-Path segments (each one option value, already UTF-8 text). */
export function parsePath(segments: string[], opts: { legacy: boolean }): Route {
  const [first, ...rest] = segments;
  if (first === 'ps' && segments.length >= 1) return { kind: 'ps', topic: percentDecode(rest.join('/')) };
  if (first === 'mqtt') {
    if (rest.length === 1 && rest[0] === 'connection') return { kind: 'connection' };
    if (opts.legacy && rest.length >= 1) return { kind: 'legacy', topic: percentDecode(rest.join('/')) };
  }
  if (segments.length === 2 && first === '.well-known' && segments[1] === 'core') return { kind: 'wellknown' };
  return { kind: 'unknown', path: '/' + segments.join('/') };
}

/** Reads Uri-Query values ("k=v"), expanding short names; unknown names are ignored (EMQX does). */
export function parseQuery(values: string[]): Query {
  const q: Query = {};
  for (const raw of values) {
    const eq = raw.indexOf('=');
    const k = eq < 0 ? raw : raw.slice(0, eq);
    const v = eq < 0 ? '' : percentDecode(raw.slice(eq + 1));
    const name = SHORT[k] ?? (LONG.has(k as keyof Query) ? (k as keyof Query) : undefined);
    if (name) q[name] = v;
  }
  return q;
}

export type QosPolicy = 'coap' | 'qos0' | 'qos1' | 'qos2';

/**
 * The MQTT QoS for a request: the `qos` query value when given, else the configured policy, where
 * `coap` maps NON to 0 and CON to 1. QoS 2 is served as 1 (the gateway's broker path carries 0 and 1).
 */
export function resolveQos(value: string | undefined, policy: QosPolicy, confirmable: boolean): 0 | 1 | { error: string } {
  if (value !== undefined && value !== '') {
    if (!/^[0-2]$/.test(value)) return { error: `qos must be 0, 1 or 2, got "${value.slice(0, 16)}"` };
    return value === '0' ? 0 : 1;
  }
  if (policy === 'coap') return confirmable ? 1 : 0;
  return policy === 'qos0' ? 0 : 1;
}

/** Only the string "true" means retain (EMQX). */
export function resolveRetain(value: string | undefined): boolean {
  return value === 'true';
}

/** Expiry in seconds, or an error for a value that is not a non-negative integer. */
export function resolveExpiry(value: string | undefined): number | undefined | { error: string } {
  if (value === undefined || value === '') return undefined;
  if (!/^\d{1,10}$/.test(value)) return { error: `expiry must be whole seconds, got "${value.slice(0, 16)}"` };
  return Number(value);
}

/** Prepends the mountpoint ("coap/" + "a/b"). */
export function mount(mountpoint: string, topic: string): string {
  return mountpoint + topic;
}
