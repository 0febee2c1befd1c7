// The engine's message shapes (what handlers and clients see) and small option helpers. Option
// names are coap-packet's ('Uri-Path', 'Block2', ...); options it does not name are their number
// as text ('292' for Request-Tag), and lookups accept either form.
import type { ParsedPacket } from 'coap-packet';
import type { Block } from './block.ts';
import type { Peer } from './transport.ts';
import { readUint } from './wire.ts';

export interface CoapOption {
  name: string | number;
  value: Buffer;
}

export type MessageType = 'CON' | 'NON' | 'ACK' | 'RST';

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'FETCH' | 'PATCH' | 'iPATCH';

const METHOD_BY_CODE: Record<string, Method> = { '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE', '0.05': 'FETCH', '0.06': 'PATCH', '0.07': 'iPATCH' };

/** 'GET' for '0.01'; an unassigned request code stays as its dotted text. */
export const methodOf = (code: string): string => METHOD_BY_CODE[code] ?? code;

/** The first value of an option, by coap-packet name or number. */
export function optionValue(options: readonly CoapOption[], name: string | number): Buffer | undefined {
  const n = String(name);
  for (const o of options) if (String(o.name) === n) return o.value;
  return undefined;
}

/** Every value of a repeatable option (Uri-Path, Uri-Query, Location-Path), in order. */
export function optionValues(options: readonly CoapOption[], name: string | number): Buffer[] {
  const n = String(name);
  const out: Buffer[] = [];
  for (const o of options) if (String(o.name) === n) out.push(o.value);
  return out;
}

export const typeOf = (p: ParsedPacket): MessageType => (p.reset ? 'RST' : p.ack ? 'ACK' : p.confirmable ? 'CON' : 'NON');

/** A request received by the server role, with a block-wise upload already reassembled. */
export interface CoapRequest {
  /** The transport id of the endpoint it arrived on ("udp4", "udp6", "modem"...). */
  readonly transport: string;
  readonly peer: Peer;
  readonly confirmable: boolean;
  /** 'GET', 'POST', ... */
  readonly method: string;
  readonly code: string;
  readonly messageId: number;
  readonly token: Buffer;
  /** As received (on a reassembled upload: the last block's options). */
  readonly options: CoapOption[];
  /** The whole body: a Block1 upload arrives here once, complete. */
  readonly payload: Buffer;
  /** Uri-Path segments, UTF-8. */
  readonly path: string[];
  /** Uri-Query values ("k=v"), UTF-8. */
  readonly query: string[];
  /** The Observe option's value (0 register, 1 deregister), when present. */
  readonly observe?: number;
  /** The Block2 option of the request (a block-wise read of a large response). */
  readonly block2?: Block;
  option(name: string | number): Buffer | undefined;
}

/** What a handler answers; the engine chooses piggy-backed or separate, and slices large payloads. */
export interface CoapReply {
  code: string;
  options?: CoapOption[];
  payload?: Buffer | string;
}

/** A response received by the client role (a Block2 read arrives once, complete). */
export interface CoapResponse {
  readonly peer: Peer;
  readonly code: string;
  /** How it arrived: piggy-backed in the ACK, or as a separate CON/NON (notifications too). */
  readonly type: MessageType;
  readonly messageId: number;
  readonly token: Buffer;
  readonly options: CoapOption[];
  readonly payload: Buffer;
  /** The Observe option's value on a registration response or notification. */
  readonly observe?: number;
  option(name: string | number): Buffer | undefined;
}

export function toRequest(p: ParsedPacket, peer: Peer, transport: string, payload: Buffer, block2: Block | undefined): CoapRequest {
  const obs = optionValue(p.options, 'Observe');
  return {
    transport,
    peer,
    confirmable: p.confirmable,
    method: methodOf(p.code),
    code: p.code,
    messageId: p.messageId,
    token: p.token,
    options: p.options,
    payload,
    path: optionValues(p.options, 'Uri-Path').map((v) => v.toString('utf8')),
    query: optionValues(p.options, 'Uri-Query').map((v) => v.toString('utf8')),
    observe: obs === undefined ? undefined : readUint(obs),
    block2,
    option: (name) => optionValue(p.options, name),
  };
}

export function toResponse(p: ParsedPacket, peer: Peer, payload: Buffer = p.payload): CoapResponse {
  const obs = optionValue(p.options, 'Observe');
  return {
    peer,
    code: p.code,
    type: typeOf(p),
    messageId: p.messageId,
    token: p.token,
    options: p.options,
    payload,
    observe: obs === undefined ? undefined : readUint(obs),
    option: (name) => optionValue(p.options, name),
  };
}
