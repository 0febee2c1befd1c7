import { normalizeUuid } from './decoders/index.ts';

// The JSON commands accepted on ble/{device}/dn (docs/ble.md, "GATT commands").

export type GattCommand =
  | { id?: string; cmd: 'connect' | 'disconnect' }
  | { id?: string; cmd: 'read' | 'subscribe' | 'unsubscribe'; service: string; characteristic: string }
  | { id?: string; cmd: 'write'; service: string; characteristic: string; data: Buffer; withoutResponse: boolean };

const UUID = /^[0-9a-f]{4}$|^[0-9a-f]{32}$/;

/** Parses one command; an error text names what is wrong (and the id, when one could be read). */
export function parseGattCommand(payload: Buffer): { cmd: GattCommand } | { error: string; id?: string } {
  let o: unknown;
  try {
    o = JSON.parse(payload.toString('utf8'));
  } catch {
    return { error: 'the command is not JSON; send e.g. {"id":"1","cmd":"read","service":"180f","characteristic":"2a19"}' };
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return { error: 'the command must be a JSON object' };
  const r = o as Record<string, unknown>;
  const id = typeof r.id === 'string' || typeof r.id === 'number' ? String(r.id) : undefined;
  const bad = (error: string) => ({ error, id });
  if (r.id !== undefined && id === undefined) return bad('"id" must be a string or a number');
  const cmd = r.cmd;
  if (cmd === 'connect' || cmd === 'disconnect') return { cmd: { id, cmd } };
  if (cmd !== 'read' && cmd !== 'write' && cmd !== 'subscribe' && cmd !== 'unsubscribe') return bad('"cmd" must be one of connect, disconnect, read, write, subscribe, unsubscribe');
  if (typeof r.service !== 'string' || typeof r.characteristic !== 'string') return bad(`"${cmd}" needs "service" and "characteristic" UUIDs, e.g. "180f" and "2a19"`);
  const service = normalizeUuid(r.service);
  const characteristic = normalizeUuid(r.characteristic);
  if (!UUID.test(service)) return bad(`"service" "${r.service}" is not a 16-bit or 128-bit UUID`);
  if (!UUID.test(characteristic)) return bad(`"characteristic" "${r.characteristic}" is not a 16-bit or 128-bit UUID`);
  if (cmd !== 'write') return { cmd: { id, cmd, service, characteristic } };
  if (typeof r.data !== 'string' || r.data.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(r.data)) return bad('"write" needs "data" as an even-length hex string');
  if (r.without_response !== undefined && typeof r.without_response !== 'boolean') return bad('"without_response" must be true or false');
  return { cmd: { id, cmd, service, characteristic, data: Buffer.from(r.data, 'hex'), withoutResponse: r.without_response === true } };
}
