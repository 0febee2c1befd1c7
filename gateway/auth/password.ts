import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

// scrypt is in Node's crypto, memory-hard, and needs no native addon on the Pi. The format carries
// its parameters so they can be raised later without invalidating stored hashes:
//   $scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>
const scrypt = promisify(scryptCb) as (pw: string, salt: Buffer, len: number, opts: ScryptParams) => Promise<Buffer>;

export interface ScryptParams {
  N: number;
  r: number;
  p: number;
  maxmem: number;
}

/** Derives a key: scrypt on libuv's threadpool (the default), or elsewhere (low-priority.ts). */
export type Derive = (password: string, salt: Buffer, keylen: number, params: ScryptParams) => Promise<Buffer>;

const N = 16384;
const R = 8;
const P = 1;
const KEYLEN = 32;

export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEYLEN, { N, r: R, p: P, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$N=${N},r=${R},p=${P}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string, derive: Derive = scrypt): Promise<boolean> {
  const m = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(stored);
  if (!m) return false;
  const [, n = '', r = '', p = '', saltB64 = '', hashB64 = ''] = m;
  const expected = Buffer.from(hashB64, 'base64');
  const actual = await derive(password, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n), r: Number(r), p: Number(p), maxmem: 256 * 1024 * 1024,
  });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
