import { timingSafeEqual } from 'node:crypto';
import { aesCmac } from './cmac.ts';

/**
 * The fieldgate LoRa node frame, version 1 (docs/lora-frame.md). All integers big-endian.
 *
 *   0      version (0x01)
 *   1..4   node id (uint32)
 *   5..8   frame counter (uint32, strictly increasing per node)
 *   9      port (uint8, 0..255, passed to decoders as fPort; the gateway gives no value a meaning)
 *   10..   payload (0..241 bytes: the whole frame fits one 255-byte LoRa packet)
 *   last 4 MIC = first 4 bytes of AES-128-CMAC(node key, bytes 0..end of payload)
 */
export const FRAME_VERSION = 1;
export const HEADER_LEN = 10;
export const MIC_LEN = 4;
export const MAX_PAYLOAD = 255 - HEADER_LEN - MIC_LEN;

export interface NodeFrame {
  nodeId: number;
  counter: number;
  port: number;
  payload: Buffer;
}

export type FrameHeader = NodeFrame & { version: number; mic: Buffer; signed: Buffer };

export type ParseResult = { ok: true; frame: FrameHeader } | { ok: false; reason: 'too_short' | 'bad_version' | 'too_long' };

/** Splits a frame without checking its MIC (that needs the node's key, looked up by node id). */
export function parseFrame(buf: Buffer): ParseResult {
  if (buf.length < HEADER_LEN + MIC_LEN) return { ok: false, reason: 'too_short' };
  if (buf.length > 255) return { ok: false, reason: 'too_long' };
  const version = buf[0] as number;
  if (version !== FRAME_VERSION) return { ok: false, reason: 'bad_version' };
  const end = buf.length - MIC_LEN;
  return {
    ok: true,
    frame: {
      version,
      nodeId: buf.readUInt32BE(1),
      counter: buf.readUInt32BE(5),
      port: buf[9] as number,
      payload: buf.subarray(HEADER_LEN, end),
      mic: buf.subarray(end),
      signed: buf.subarray(0, end),
    },
  };
}

export function micValid(key: Buffer, f: FrameHeader): boolean {
  const want = aesCmac(key, f.signed).subarray(0, MIC_LEN);
  return timingSafeEqual(want, f.mic);
}

export function encodeFrame(key: Buffer, f: NodeFrame): Buffer {
  if (f.payload.length > MAX_PAYLOAD) throw new Error(`payload of ${f.payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const head = Buffer.alloc(HEADER_LEN);
  head[0] = FRAME_VERSION;
  head.writeUInt32BE(f.nodeId >>> 0, 1);
  head.writeUInt32BE(f.counter >>> 0, 5);
  head[9] = f.port & 0xff;
  const signed = Buffer.concat([head, f.payload]);
  return Buffer.concat([signed, aesCmac(key, signed).subarray(0, MIC_LEN)]);
}

/** Node ids appear in topics and config as 8 lower-case hex digits. */
export const nodeIdHex = (id: number): string => (id >>> 0).toString(16).padStart(8, '0');
