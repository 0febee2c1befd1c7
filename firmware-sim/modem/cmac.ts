import { createCipheriv } from 'node:crypto';

// The node side of the fieldgate LoRa frame (docs/lora-frame.md), written from the spec and RFC 4493
// independently of the adapter's code, so a bug in one cannot hide in the other.

function aes(key: Buffer, block: Buffer): Buffer {
  const c = createCipheriv('aes-128-ecb', key, null);
  c.setAutoPadding(false);
  return Buffer.concat([c.update(block), c.final()]);
}

function dbl(b: Buffer): Buffer {
  const v = (BigInt(`0x${b.toString('hex')}`) << 1n) & ((1n << 128n) - 1n);
  const out = Buffer.from(v.toString(16).padStart(32, '0'), 'hex');
  if ((b[0] as number) >= 0x80) out[15] = (out[15] as number) ^ 0x87;
  return out;
}

function xor(a: Buffer, b: Buffer): Buffer {
  return Buffer.from(a.map((x, i) => x ^ (b[i] as number)));
}

export function cmac(key: Buffer, msg: Buffer): Buffer {
  const k1 = dbl(aes(key, Buffer.alloc(16)));
  const k2 = dbl(k1);
  const blocks: Buffer[] = [];
  for (let i = 0; i < msg.length; i += 16) blocks.push(msg.subarray(i, i + 16));
  const lastFull = blocks.length > 0 && (blocks[blocks.length - 1] as Buffer).length === 16;
  let last: Buffer = blocks.pop() ?? Buffer.alloc(0);
  last = lastFull ? xor(last, k1) : xor(Buffer.concat([last, Buffer.from([0x80]), Buffer.alloc(15 - last.length)]), k2);
  let x: Buffer = Buffer.alloc(16);
  for (const b of blocks) x = aes(key, xor(x, b));
  return aes(key, xor(x, last));
}

/** A version-1 uplink frame as a node would send it. */
export function nodeFrame(key: Buffer, nodeId: number, counter: number, port: number, payload: Buffer): Buffer {
  const head = Buffer.from([1, (nodeId >>> 24) & 255, (nodeId >>> 16) & 255, (nodeId >>> 8) & 255, nodeId & 255, (counter >>> 24) & 255, (counter >>> 16) & 255, (counter >>> 8) & 255, counter & 255, port]);
  const body = Buffer.concat([head, payload]);
  return Buffer.concat([body, cmac(key, body).subarray(0, 4)]);
}
