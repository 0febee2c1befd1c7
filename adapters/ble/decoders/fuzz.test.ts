import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdvert, type Advert } from './index.ts';

// Seeded random and truncated inputs under every UUID and company id a decoder claims: decoding
// never throws, and every result is undefined, a success with plain values, or an error text.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEY = Buffer.from('231d39c1d7cc1ab1aee224cd096db932', 'hex');
const ADDRESS = '54:48:e6:8f:80:a5';
const bindkeys = new Map([[ADDRESS, KEY]]);

// Valid payloads from the published vectors, to truncate and mutate.
const SEEDS: { uuid?: string; hex: string }[] = [
  { uuid: 'fcd2', hex: '4002c40903bf13' },
  { uuid: 'fcd2', hex: '41e445f3c9962b332211006c7c4519' },
  { uuid: 'fcd2', hex: '40530c48656c6c6f20576f726c64213b0103053c0103f100010204' },
  { uuid: '181a', hex: '22110038c1a42909d711860b570500' },
  { uuid: '181a', hex: '05db97a03060433829c73a' },
  { uuid: 'feaa', hex: '10ee006578616d706c6507' },
  { uuid: 'feaa', hex: '20000bb81980000000640000 03e8'.replace(/ /g, '') },
  { hex: '99040512fc5394c37c0004fffc040cac364200cdcbb8334c884f' },
  { hex: '990403291a1ece1efc18f94202ca0b53' },
  { hex: '4c000215f7826da64fa24e988024bc5b71e0893e00010102c5' },
];

function advert(seed: { uuid?: string }, data: Buffer): Advert {
  return seed.uuid ? { address: ADDRESS, serviceData: [{ uuid: seed.uuid, data }] } : { address: ADDRESS, serviceData: [], manufacturerData: data };
}

function check(ad: Advert): void {
  const r = decodeAdvert(ad, { bindkeys });
  if (r === undefined) return;
  if (r.ok) {
    for (const v of Object.values(r.values)) assert.ok(['number', 'string', 'boolean'].includes(typeof v) && (typeof v !== 'number' || Number.isFinite(v)), JSON.stringify(r));
  } else {
    assert.equal(typeof r.error, 'string');
    assert.ok(r.error.length > 0);
  }
}

test('every truncation of every vector decodes to a result, never a throw', () => {
  for (const s of SEEDS) {
    const full = Buffer.from(s.hex, 'hex');
    for (let n = 0; n <= full.length; n++) check(advert(s, full.subarray(0, n)));
  }
});

test('seeded mutations and random payloads (seed 0x5eed, 20,000 cases)', () => {
  const rand = rng(0x5eed);
  const byte = () => Math.floor(rand() * 256);
  for (let i = 0; i < 20_000; i++) {
    const s = SEEDS[i % SEEDS.length]!;
    let data: Buffer;
    if (i % 3 === 0) {
      // A random payload keeping the decoder's prefix (company id or BTHome info byte).
      const keep = s.uuid ? 1 : 2;
      const prefix = Buffer.from(s.hex, 'hex').subarray(0, keep);
      data = Buffer.concat([prefix, Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, byte))]);
    } else {
      data = Buffer.from(s.hex, 'hex');
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips && data.length > 0; f++) data[Math.floor(rand() * data.length)] = byte();
    }
    check(advert(s, data));
  }
});
