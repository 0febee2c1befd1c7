// A small CoAP peer for the engine's tests, written from RFC 7252 section 3 (and 7959, 7641) with
// its own encoder and decoder: it does not use coap-packet, so a bug shared with the engine's
// codec cannot hide. Not a test file itself.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';

export const CON = 0;
export const NON = 1;
export const ACK = 2;
export const RST = 3;

export interface Msg {
  type: number;
  /** class * 32 + detail. */
  code: number;
  mid: number;
  token: Buffer;
  /** [number, value], in any order. */
  options: [number, Buffer][];
  payload: Buffer;
}

export const code = (cls: number, detail: number): number => cls * 32 + detail;

function ext(n: number): { nibble: number; bytes: number[] } {
  if (n < 13) return { nibble: n, bytes: [] };
  if (n < 269) return { nibble: 13, bytes: [n - 13] };
  return { nibble: 14, bytes: [(n - 269) >> 8, (n - 269) & 0xff] };
}

export function encode(m: Msg): Buffer {
  const out: number[] = [0x40 | (m.type << 4) | m.token.length, m.code, m.mid >> 8, m.mid & 0xff, ...m.token];
  let last = 0;
  for (const [num, value] of [...m.options].sort((a, b) => a[0] - b[0])) {
    const d = ext(num - last);
    const l = ext(value.length);
    out.push((d.nibble << 4) | l.nibble, ...d.bytes, ...l.bytes, ...value);
    last = num;
  }
  if (m.payload.length) out.push(0xff, ...m.payload);
  return Buffer.from(out);
}

export function decode(b: Buffer): Msg {
  const tkl = b[0]! & 15;
  const m: Msg = { type: (b[0]! >> 4) & 3, code: b[1]!, mid: b.readUInt16BE(2), token: b.subarray(4, 4 + tkl), options: [], payload: Buffer.alloc(0) };
  let i = 4 + tkl;
  let num = 0;
  while (i < b.length) {
    if (b[i] === 0xff) {
      m.payload = b.subarray(i + 1);
      break;
    }
    let delta = b[i]! >> 4;
    let len = b[i]! & 15;
    i++;
    if (delta === 13) delta = 13 + b[i++]!;
    else if (delta === 14) (delta = 269 + b.readUInt16BE(i)), (i += 2);
    if (len === 13) len = 13 + b[i++]!;
    else if (len === 14) (len = 269 + b.readUInt16BE(i)), (i += 2);
    num += delta;
    m.options.push([num, b.subarray(i, i + len)]);
    i += len;
  }
  return m;
}

export const uint = (n: number): Buffer => {
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from(bytes);
};
export const readUintBuf = (b: Buffer | undefined): number => (b ?? Buffer.alloc(0)).reduce((v, x) => v * 256 + x, 0);
export const opt = (m: Msg, num: number): Buffer | undefined => m.options.find(([n]) => n === num)?.[1];

/** A UDP peer on 127.0.0.1 that records what it receives and answers through `onMessage`. */
export class Peer {
  readonly got: Msg[] = [];
  onMessage: (m: Msg, from: RemoteInfo) => void = () => {};

  private constructor(readonly sock: Socket) {
    sock.on('message', (buf, from) => {
      const m = decode(buf);
      this.got.push(m);
      this.onMessage(m, from);
    });
  }

  static async open(): Promise<Peer> {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    return new Peer(sock);
  }

  get address(): { address: string; port: number } {
    return { address: '127.0.0.1', port: this.sock.address().port };
  }

  send(m: Msg, to: { address: string; port: number }): void {
    this.sock.send(encode(m), to.port, to.address);
  }

  close(): void {
    this.sock.close();
  }
}
