// One entry point per direction: a device's payload (any LwM2M content format) to typed
// {path, value} pairs, and command values to a payload in the configured write format.
import type { ObjectModel } from '../objects/model.ts';
import { parseLinks, numericPath } from './link.ts';
import { decodeLwm2mJson, decodeSenmlCbor, decodeSenmlJson, encodeSenmlCbor, encodeSenmlJson, type Record_, type WriteRecord } from './senml.ts';
import { encodeTlv, flattenTlv, parseTlv } from './tlv.ts';
import { CodecError, jsonFromCommand, valueFromBytes, valueFromText, valueToBytes, type JsonValue, type PathValue, type ResourceType } from './values.ts';

/** Content-Format numbers (IANA CoAP registry; 1542/1543 are the pre-registration LwM2M 1.0 drafts' numbers). */
export const CF = { TEXT: 0, LINK: 40, OPAQUE: 42, CBOR: 60, SENML_JSON: 110, SENML_CBOR: 112, TLV: 11542, LWM2M_JSON: 11543, OLD_TEXT: 1541, OLD_TLV: 1542, OLD_JSON: 1543, OLD_OPAQUE: 1544 } as const;

export type WriteFormat = 'tlv' | 'text' | 'senml-json' | 'senml-cbor';
export const WRITE_FORMAT_CF: Record<WriteFormat, number> = { tlv: CF.TLV, text: CF.TEXT, 'senml-json': CF.SENML_JSON, 'senml-cbor': CF.SENML_CBOR };

/** A content format the gateway cannot decode at all (as opposed to a malformed payload). */
export class UnsupportedFormat extends CodecError {
  constructor(readonly format: number) {
    super(`content format ${format} is not supported`);
  }
}

const pathText = (p: readonly number[]) => `/${p.join('/')}`;

function normalize(name: string): string {
  const p = `/${name}`.replace(/\/{2,}/g, '/');
  return p.length > 1 && p.endsWith('/') ? p.slice(0, -1) : p;
}

/** A record must name an LwM2M path (at most object/instance/resource/instance) inside the one asked for. */
function typedRecord(r: Record_, model: ObjectModel, reqPath: readonly number[]): PathValue {
  const path = normalize(r.name);
  const nums = numericPath(path);
  if (!nums) throw new CodecError(`record name "${r.name}" is not an LwM2M path`);
  if (nums.length > 4) throw new CodecError(`record name "${path}" is deeper than object/instance/resource/instance`);
  if (nums.length < reqPath.length || reqPath.some((n, i) => nums[i] !== n)) throw new CodecError(`record "${path}" is outside the requested ${pathText(reqPath)}`);
  if (r.bytes) return { path, value: r.bytes.toString('base64') };
  const type = model.typeOf(nums);
  // LwM2M JSON carries Objlnk/Time/Integer as numbers or strings; keep the JSON type the device
  // chose unless the definition says it is a number and the device sent digits as text.
  if (typeof r.value === 'string' && (type === 'Integer' || type === 'Float' || type === 'Unsigned Integer' || type === 'Time' || type === 'Boolean')) {
    return { path, value: valueFromText(type, r.value, path) };
  }
  return { path, value: r.value };
}

/**
 * Decodes a read / observe / notify payload. `reqPath` is the path the request named: TLV and
 * text/plain payloads are relative to it. Throws CodecError (malformed) or UnsupportedFormat.
 */
export function decodeContent(format: number | undefined, payload: Buffer, reqPath: readonly number[], model: ObjectModel): PathValue[] {
  const fmt = format ?? (reqPath.length >= 3 ? CF.TEXT : CF.TLV);
  switch (fmt) {
    case CF.TEXT:
    case CF.OLD_TEXT:
      if (reqPath.length < 3) throw new CodecError(`text/plain answer to ${pathText(reqPath)}, which is not a resource`);
      return [{ path: pathText(reqPath), value: valueFromText(model.typeOf(reqPath), payload.toString('utf8'), pathText(reqPath)) }];
    case CF.OPAQUE:
    case CF.OLD_OPAQUE:
      return [{ path: pathText(reqPath), value: payload.toString('base64') }];
    case CF.TLV:
    case CF.OLD_TLV:
      return flattenTlv(parseTlv(payload), [...reqPath]).map(({ path, value }) => ({ path: pathText(path), value: valueFromBytes(model.typeOf(path), value, pathText(path)) }));
    case CF.LWM2M_JSON:
    case CF.OLD_JSON:
      return decodeLwm2mJson(payload).map((r) => typedRecord(r, model, reqPath));
    case CF.SENML_JSON:
      return decodeSenmlJson(payload).map((r) => typedRecord(r, model, reqPath));
    case CF.SENML_CBOR:
      return decodeSenmlCbor(payload).map((r) => typedRecord(r, model, reqPath));
    default:
      throw new UnsupportedFormat(fmt);
  }
}

/** A discover answer: the link strings as sent (EMQX's `content` for discover). */
export function decodeDiscover(payload: Buffer): string[] {
  return parseLinks(payload.toString('utf8')).map((l) => l.raw);
}

export interface WriteItem {
  path: number[];
  type: ResourceType;
  value: unknown;
}

/**
 * Encodes write/create values for a request to `base`. `hex`: values are hex text (EMQX's
 * `"encoding": "hex"`). Throws CodecError naming the offending path.
 */
export function encodeWrite(format: WriteFormat, base: number[], items: WriteItem[], hex = false): { payload: Buffer; format: number } {
  const single = items.length === 1 && items[0]!.path.length === base.length && base.length >= 3;
  if (format === 'text' && single) {
    // text/plain (opaque for Opaque) for one resource, as LwM2M 1.0 clients without TLV expect.
    const it = items[0]!;
    const bytes = valueToBytes(it.type, it.value, pathText(it.path), hex);
    if (it.type === 'Opaque') return { payload: bytes, format: CF.OPAQUE };
    return { payload: Buffer.from(String(valueFromBytes(it.type, bytes, pathText(it.path)))), format: CF.TEXT };
  }
  if (format === 'tlv' || format === 'text') {
    const payload = encodeTlv(base, items.map((it) => ({ path: it.path, value: valueToBytes(it.type, it.value, pathText(it.path), hex) })));
    return { payload, format: CF.TLV };
  }
  const records: WriteRecord[] = items.map((it) => {
    const v = jsonFromCommand(it.type, it.value, pathText(it.path), hex);
    return { name: pathText(it.path), value: v.value as JsonValue, bytes: v.bytes };
  });
  const bn = base.length >= 3 ? pathText(base) : `${pathText(base)}/`.replace(/\/\/$/, '/');
  const payload = format === 'senml-json' ? encodeSenmlJson(bn, records) : encodeSenmlCbor(bn, records);
  return { payload, format: WRITE_FORMAT_CF[format] };
}
