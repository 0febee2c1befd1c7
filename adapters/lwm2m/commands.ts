// EMQX's LwM2M command JSON (emqx_lwm2m_cmd:mqtt_to_coap) to a CoAP request description, and the
// device's answer back to response JSON. Pure: no sockets, no clock.
import { CodecError, type PathValue, type ResourceType } from './codec/values.ts';
import { WRITE_FORMAT_CF, encodeWrite, type WriteFormat, type WriteItem } from './codec/content.ts';
import { numericPath } from './codec/link.ts';
import type { ObjectModel } from './objects/model.ts';

export type Method = 'GET' | 'PUT' | 'POST' | 'DELETE';

/** What goes to the device. `path` is the numeric LwM2M path; `query` the Uri-Query strings. */
export interface OutRequest {
  method: Method;
  path: number[];
  query: string[];
  payload?: Buffer;
  format?: number;
  accept?: number;
  observe?: 0 | 1;
}

export const MSG_TYPES = ['read', 'discover', 'write', 'write-attr', 'execute', 'create', 'delete', 'observe', 'cancel-observe'] as const;
export type MsgType = (typeof MSG_TYPES)[number];

export interface Command {
  /** Every top-level field but `data`, echoed in each message about this command. */
  envelope: Record<string, unknown>;
  msgType: string;
  data: Record<string, unknown>;
  /** `reqPath` of the responses: the path or basePath without its query. */
  reqPath: string;
  /** Seconds from arrival until the command is dropped if not yet sent; 0 = send now, never queue. */
  ttl?: number;
}

export type Translation = { ok: true; cmd: Command; request: OutRequest } | { ok: false; cmd: Command; error: string };

/** CoAP response code -> EMQX codeMsg (emqx_lwm2m_cmd:code/1, extended to every RFC 7252 code). */
export const CODE_MSG: Record<string, string> = {
  '2.01': 'created', '2.02': 'deleted', '2.03': 'valid', '2.04': 'changed', '2.05': 'content', '2.31': 'continue',
  '4.00': 'bad_request', '4.01': 'unauthorized', '4.02': 'bad_option', '4.03': 'forbidden', '4.04': 'not_found',
  '4.05': 'method_not_allowed', '4.06': 'not_acceptable', '4.08': 'request_entity_incomplete', '4.09': 'conflict',
  '4.12': 'precondition_failed', '4.13': 'request_entity_too_large', '4.15': 'unsupported_content_format',
  '5.00': 'internal_server_error', '5.01': 'not_implemented', '5.02': 'bad_gateway', '5.03': 'service_unavailable',
  '5.04': 'gateway_timeout', '5.05': 'proxying_not_supported',
};

export const codeMsg = (code: string): string => CODE_MSG[code] ?? 'unknown';

const WRITE_TYPES: Record<string, ResourceType> = { Time: 'Time', String: 'String', Integer: 'Integer', Float: 'Float', Boolean: 'Boolean', Opaque: 'Opaque', Objlnk: 'Objlnk', 'Unsigned Integer': 'Unsigned Integer', Corelnk: 'Corelnk' };
const ATTRS = ['pmin', 'pmax', 'gt', 'lt', 'st', 'epmin', 'epmax'];

/** Parses `dn/` payload JSON; undefined when it is not a JSON object (dropped and counted by the caller). */
export function parseCommandJson(payload: Buffer): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(payload.toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function splitPath(raw: unknown, what: string): { nums: number[]; query: string[]; text: string } {
  if (typeof raw !== 'string' || raw === '') throw new CodecError(`${what} is missing`);
  const q = raw.indexOf('?');
  const text = q < 0 ? raw : raw.slice(0, q);
  const nums = numericPath(text);
  if (!nums || nums.length === 0 || nums.length > 4) throw new CodecError(`${what} "${raw}" is not an LwM2M path like /3/0/1`);
  const query = q < 0 ? [] : raw.slice(q + 1).split('&').filter((s) => s !== '');
  return { nums, query, text: `/${nums.join('/')}` };
}

function writeItems(base: number[], content: unknown, model: ObjectModel, create: boolean): WriteItem[] {
  if (!Array.isArray(content)) throw new CodecError('data.content must be an array');
  return content.map((raw: unknown, i) => {
    const it = raw as { path?: unknown; type?: unknown; value?: unknown } | null;
    if (typeof it !== 'object' || it === null) throw new CodecError(`data.content[${i}] is not an object`);
    const rel = numericPath(typeof it.path === 'string' ? it.path : '');
    if (!rel || rel.length === 0) throw new CodecError(`data.content[${i}].path ${JSON.stringify(it.path)} is not a relative path like "1" or "0/1"`);
    // create with a bare resource id: the device picks the instance (placeholder, see translateCreate).
    const path = create && rel.length === 1 ? [...base, 0xffff, ...rel] : [...base, ...rel];
    return { path, type: writeType(it.type, path, model, `data.content[${i}].type`), value: it.value };
  });
}

function writeType(raw: unknown, path: number[], model: ObjectModel, what: string): ResourceType {
  if (raw === undefined) {
    const t = model.typeOf(path);
    if (t && t !== 'none') return t;
    throw new CodecError(`${what} is missing and /${path.join('/')} has no definition`);
  }
  const t = typeof raw === 'string' ? WRITE_TYPES[raw] : undefined;
  if (!t) throw new CodecError(`${what} ${JSON.stringify(raw)} is not one of ${Object.keys(WRITE_TYPES).join(', ')}`);
  return t;
}

function attrQuery(data: Record<string, unknown>): string[] {
  const q: string[] = [];
  for (const k of ATTRS) {
    const v = data[k];
    if (v === undefined || v === null) continue;
    if ((typeof v !== 'string' && typeof v !== 'number') || !/^-?\d+(\.\d+)?$/.test(String(v))) throw new CodecError(`data.${k} ${JSON.stringify(v)} is not a number`);
    q.push(`${k}=${v}`);
  }
  return q;
}

/** read, observe, cancel-observe, discover: a GET, with Observe and Accept as the command asks. */
function translateGet(cmd: Command, format: WriteFormat): OutRequest {
  const p = splitPath(cmd.data.path, 'data.path');
  const req: OutRequest = { method: 'GET', path: p.nums, query: p.query };
  if (cmd.msgType === 'observe') req.observe = 0;
  if (cmd.msgType === 'cancel-observe') req.observe = 1;
  if (cmd.msgType === 'discover') req.accept = 40;
  // A device written SenML is a 1.1 device that reads back in it too: ask for the same format.
  else if (format === 'senml-cbor' || format === 'senml-json') req.accept = WRITE_FORMAT_CF[format];
  return req;
}

/** write: one resource (data.path), or several under data.basePath (POST to an instance, PUT to a resource). */
function translateWrite(cmd: Command, model: ObjectModel, format: WriteFormat, hex: boolean): OutRequest {
  const d = cmd.data;
  if (d.basePath !== undefined) {
    const b = splitPath(d.basePath, 'data.basePath');
    if (b.nums.length < 2 || b.nums.length > 3) throw new CodecError('data.basePath must be /obj/inst or /obj/inst/res');
    const w = encodeWrite(format, b.nums, writeItems(b.nums, d.content, model, false), hex);
    return { method: b.nums.length === 2 ? 'POST' : 'PUT', path: b.nums, query: b.query, payload: w.payload, format: w.format };
  }
  const p = splitPath(d.path, 'data.path');
  if (p.nums.length < 3) throw new CodecError('data.path of a single write must name a resource (/obj/inst/res)');
  const w = encodeWrite(format, p.nums, [{ path: p.nums, type: writeType(d.type, p.nums, model, 'data.type'), value: d.value }], hex);
  return { method: 'PUT', path: p.nums, query: p.query, payload: w.payload, format: w.format };
}

function translateExecute(d: Record<string, unknown>): OutRequest {
  const p = splitPath(d.path, 'data.path');
  if (p.nums.length !== 3) throw new CodecError('data.path of execute must name a resource (/obj/inst/res)');
  const args = d.args === undefined || d.args === null || d.args === 'undefined' ? '' : d.args;
  if (typeof args !== 'string') throw new CodecError('data.args must be a string');
  return { method: 'POST', path: p.nums, query: p.query, payload: args === '' ? undefined : Buffer.from(args), format: args === '' ? undefined : 0 };
}

/**
 * create: POST to /{ObjectID}. Content paths "res" leave the instance id to the device (written
 * under the placeholder instance 0xffff); "inst/res" paths name it; the two do not mix.
 */
function translateCreate(d: Record<string, unknown>, model: ObjectModel, format: WriteFormat, hex: boolean): OutRequest {
  const b = splitPath(d.basePath, 'data.basePath');
  if (b.nums.length !== 1) throw new CodecError('data.basePath of create must be /{ObjectID}');
  const items = writeItems(b.nums, d.content ?? [], model, true);
  if (items.length === 0) return { method: 'POST', path: b.nums, query: b.query, payload: undefined, format: undefined };
  const placeholder = items.every((i) => i.path[1] === 0xffff);
  const mixed = !placeholder && items.some((i) => i.path[1] === 0xffff);
  if (mixed) throw new CodecError('data.content of create mixes "res" and "inst/res" paths');
  const w = encodeWrite(format, placeholder ? [b.nums[0]!, 0xffff] : b.nums, items, hex);
  return { method: 'POST', path: b.nums, query: b.query, payload: w.payload, format: w.format };
}

function translateOne(cmd: Command, model: ObjectModel, format: WriteFormat): OutRequest {
  const d = cmd.data;
  const hex = cmd.envelope.encoding === 'hex';
  switch (cmd.msgType as MsgType) {
    case 'read':
    case 'observe':
    case 'cancel-observe':
    case 'discover':
      return translateGet(cmd, format);
    case 'write':
      return translateWrite(cmd, model, format, hex);
    case 'write-attr': {
      const p = splitPath(d.path, 'data.path');
      return { method: 'PUT', path: p.nums, query: [...p.query, ...attrQuery(d)] };
    }
    case 'execute':
      return translateExecute(d);
    case 'create':
      return translateCreate(d, model, format, hex);
    case 'delete': {
      const p = splitPath(d.path, 'data.path');
      if (p.nums.length !== 2) throw new CodecError('data.path of delete must be /{ObjectID}/{InstanceID}');
      return { method: 'DELETE', path: p.nums, query: p.query };
    }
    default:
      throw new CodecError(`unknown msgType ${JSON.stringify(cmd.msgType)} (expected one of ${MSG_TYPES.join(', ')})`);
  }
}

function reqPathOf(data: Record<string, unknown>): string {
  const raw = typeof data.path === 'string' ? data.path : typeof data.basePath === 'string' ? data.basePath : '';
  const q = raw.indexOf('?');
  return q < 0 ? raw : raw.slice(0, q);
}

/** A parsed command JSON object to the request it asks for, or the reason it is a 4.00. */
export function translate(doc: Record<string, unknown>, model: ObjectModel, format: WriteFormat = 'tlv'): Translation {
  const { data: rawData, ...envelope } = doc;
  const data = typeof rawData === 'object' && rawData !== null && !Array.isArray(rawData) ? (rawData as Record<string, unknown>) : {};
  const msgType = typeof doc.msgType === 'string' ? doc.msgType : '';
  const cmd: Command = { envelope, msgType, data, reqPath: reqPathOf(data) };
  const mh = doc.mheaders as { ttl?: unknown } | undefined;
  if (mh && typeof mh === 'object' && mh.ttl !== undefined) {
    if (typeof mh.ttl !== 'number' || !Number.isFinite(mh.ttl) || mh.ttl < 0) return { ok: false, cmd, error: 'mheaders.ttl must be a number of seconds >= 0' };
    cmd.ttl = mh.ttl;
  }
  try {
    return { ok: true, cmd, request: translateOne(cmd, model, format) };
  } catch (err) {
    if (err instanceof CodecError) return { ok: false, cmd, error: err.message };
    throw err;
  }
}

export interface ResponseData {
  reqPath: string;
  code: string;
  codeMsg: string;
  content?: PathValue[] | string[];
  /** Not in EMQX: why a 4.00/4.15 was produced by the gateway itself (bad command, undecodable payload). */
  error?: string;
}

/** The JSON published about a command: its envelope, then `msgType` and `data` (EMQX's make_base_response). */
export function message(cmd: Command, msgType: string, data: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...cmd.envelope, ...extra, msgType, data };
}

export function responseData(cmd: Command, code: string, content?: PathValue[] | string[], error?: string): ResponseData {
  const d: ResponseData = { reqPath: cmd.reqPath, code, codeMsg: codeMsg(code) };
  if (content !== undefined) d.content = content;
  if (error !== undefined) d.error = error;
  return d;
}
