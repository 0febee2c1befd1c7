// What the LwM2M adapter needs from the shared CoAP engine (adapters/lib/coap) to talk to a device:
// a request from the server's socket, notifications of an observation, forgetting one. Declared
// here as the narrow seam the adapter's logic is written (and unit-tested) against.
import type { Peer } from './device.ts';

export interface LinkOption {
  name: string | number;
  value: Buffer;
}

export interface LinkResponse {
  readonly code: string;
  readonly payload: Buffer;
  readonly token: Buffer;
  readonly observe?: number;
  option(name: string | number): Buffer | undefined;
}

export interface LinkRequest {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  path: string[];
  query?: string[];
  options?: LinkOption[];
  payload?: Buffer;
  token?: Buffer;
  observe?: 0 | 1;
  onNotification?: (n: LinkResponse) => void;
  /** Called when the device sent an empty ACK: the response will come separately. */
  onAck?: () => void;
  timeoutMs?: number;
}

export interface CoapLink {
  request(peer: Peer, req: LinkRequest): Promise<LinkResponse>;
  /** Drops an observation: its next notification is answered RST, which cancels it at the device. */
  forget(peer: Peer, token: Buffer): boolean;
}

/** The engine's errors carry `code`: `coap_timeout` (no ACK / no response) or `coap_reset` (RST). */
export function failureCode(err: unknown): 'coap_timeout' | 'coap_reset' | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'coap_timeout' || code === 'coap_reset' ? code : undefined;
}

export function uint(n: number): Buffer {
  if (n === 0) return Buffer.alloc(0);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
}

export function readUint(b: Buffer | undefined): number | undefined {
  if (!b) return undefined;
  let v = 0;
  for (const x of b) v = v * 256 + x;
  return v;
}
