// The shapes every decoder shares. A decoder is a pure function: same advertisement (and keys) in,
// same result out; no I/O, no clock, no state. State that spans advertisements (BTHome packet ids,
// encryption counters, change-only publishing) lives in the adapter, not here.

/** Every built-in format name a decoded advertisement can carry (for allowlists and docs). */
export const BUILTIN_FORMATS = ['bthome', 'ruuvi3', 'ruuvi5', 'atc1441', 'atc1441_enc', 'pvvx', 'pvvx_enc', 'ibeacon', 'eddystone_uid', 'eddystone_url', 'eddystone_tlm'] as const;

/** One service-data element: its UUID (normalized, see normalizeUuid) and the bytes after it. */
export interface ServiceData {
  uuid: string;
  data: Buffer;
}

/** An advertisement as the decoders see it, whatever it came from (noble or a Theengs JSON line). */
export interface Advert {
  /** Device address, lower case `aa:bb:cc:dd:ee:ff`. */
  address: string;
  name?: string;
  /** The whole 0xFF element data, company id first (little-endian, as sent). */
  manufacturerData?: Buffer;
  serviceData: ServiceData[];
  rssi?: number;
}

export type Value = number | string | boolean;

/** What a decoder matched and read. `values` use Theengs/OpenMQTTGateway key names. */
export interface Decoded {
  ok: true;
  format: string;
  values: Record<string, Value>;
  /** Facts the adapter's cross-packet checks need; never published as values. */
  meta?: {
    packetId?: number;
    counter?: number;
    encrypted?: boolean;
    /** BTHome: the device sends only on events (a button); absence says nothing about it. */
    triggerBased?: boolean;
  };
}

/** The advertisement is of a known format but could not be read (short, malformed, wrong key). */
export interface DecodeError {
  ok: false;
  format: string;
  error: string;
  /** A user decoder ran into its time limit (its circuit breaker counts these). */
  timedOut?: true;
}

/** undefined: no decoder claims this advertisement (not an error: most neighbours are phones). */
export type DecodeResult = Decoded | DecodeError | undefined;

export interface DecodeKeys {
  /** 16-byte AES keys by lower-case address. */
  bindkeys?: ReadonlyMap<string, Buffer>;
}

export function fail(format: string, error: string): DecodeError {
  return { ok: false, format, error };
}

/**
 * 16-bit UUIDs in lower-case hex without `0x` ("fcd2"); a 128-bit UUID built on the Bluetooth base
 * UUID (0000xxxx-0000-1000-8000-00805f9b34fb) is shortened to its 16-bit form; anything else is the
 * 32 hex digits without dashes.
 */
export function normalizeUuid(uuid: string): string {
  let u = uuid.trim().toLowerCase().replace(/^0x/, '').replace(/-/g, '');
  if (/^0000[0-9a-f]{4}00001000800000805f9b34fb$/.test(u)) u = u.slice(4, 8);
  return u;
}

/** Rounds away binary noise (0.1 * 3 = 0.30000000000000004) to `decimals` places. */
export function round(v: number, decimals: number): number {
  const f = 10 ** decimals;
  return Math.round(v * f) / f;
}

/** Decimal places a scale factor implies: 0.01 -> 2, 0.35 -> 2, 1 -> 0. */
export function decimalsOf(factor: number): number {
  const s = String(factor);
  const dot = s.indexOf('.');
  if (s.includes('e-')) return Number(s.split('e-')[1]);
  return dot < 0 ? 0 : s.length - dot - 1;
}

/** `aa:bb:cc:dd:ee:ff` from 6 bytes in display order. */
export function macString(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/** Fahrenheit next to every Celsius value, as Theengs Decoder publishes it. */
export function withFahrenheit(values: Record<string, Value>): Record<string, Value> {
  for (const [k, v] of Object.entries(values)) {
    const m = /^tempc(.*)$/.exec(k);
    if (m && typeof v === 'number') values[`tempf${m[1]}`] = round(v * 1.8 + 32, 3);
  }
  return values;
}
