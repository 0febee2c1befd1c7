import type { DownlinkRequest } from './lora/downlink.ts';

/**
 * A message on lora/{modem}/dn: either JSON `{"payload": "<hex>", "id"?: ...}` or, for anything that
 * is not a JSON object, the raw bytes to transmit.
 */
export function parseDownlink(body: Buffer): DownlinkRequest | { error: string } {
  const first = body.find((b) => b !== 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d);
  if (first !== 0x7b) return { payload: body };
  let doc: unknown;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    // Binary that happens to start with "{": send it as it is.
    return { payload: body };
  }
  const d = doc as { payload?: unknown; id?: unknown };
  if (typeof d.payload !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(d.payload)) return { error: 'a JSON downlink needs "payload": an even number of hex digits, e.g. {"payload":"01ff"}' };
  const id = typeof d.id === 'string' || typeof d.id === 'number' ? d.id : undefined;
  return { payload: Buffer.from(d.payload, 'hex'), id };
}
