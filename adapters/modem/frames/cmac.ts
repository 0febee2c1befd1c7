import { createCipheriv } from 'node:crypto';

const ZERO = Buffer.alloc(16);
const RB = 0x87;

function shiftLeft(b: Buffer): Buffer {
  const out = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) out[i] = (((b[i] as number) << 1) | (i < 15 ? (b[i + 1] as number) >> 7 : 0)) & 0xff;
  return out;
}

function subkey(l: Buffer): Buffer {
  const k = shiftLeft(l);
  if ((l[0] as number) & 0x80) k[15] = (k[15] as number) ^ RB;
  return k;
}

function aesBlock(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return c.update(block);
}

/** AES-128-CMAC (RFC 4493), full 16-byte tag. */
export function aesCmac(key: Buffer, message: Buffer): Buffer {
  if (key.length !== 16) throw new Error(`AES-CMAC key must be 16 bytes, got ${key.length}`);
  const l = aesBlock(key, ZERO);
  const k1 = subkey(l);
  const k2 = subkey(k1);
  const n = Math.max(1, Math.ceil(message.length / 16));
  const complete = message.length > 0 && message.length % 16 === 0;
  const last = Buffer.alloc(16);
  message.copy(last, 0, (n - 1) * 16);
  if (!complete) last[message.length - (n - 1) * 16] = 0x80;
  const k = complete ? k1 : k2;
  for (let i = 0; i < 16; i++) last[i] = (last[i] as number) ^ (k[i] as number);
  const c = createCipheriv('aes-128-cbc', key, ZERO);
  c.setAutoPadding(false);
  const blocks = Buffer.concat([message.subarray(0, (n - 1) * 16), last]);
  const out = c.update(blocks);
  return out.subarray(out.length - 16);
}
