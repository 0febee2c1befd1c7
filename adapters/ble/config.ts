import { z } from 'zod';
import { duration } from '../../gateway/config/duration.ts';
// From types.ts, not index.ts: the config schema is read with the adapter off, and the decoders
// (with the user-decoder sandbox and node:worker_threads) load only when it is on.
import { BUILTIN_FORMATS, normalizeUuid } from './decoders/types.ts';

const MAC = /^[0-9a-fA-F]{2}([:-]?[0-9a-fA-F]{2}){5}$/;

/** "AA:BB:CC:DD:EE:FF", "aa-bb-..", "aabbcc.." -> "aa:bb:cc:dd:ee:ff". */
export function normalizeAddress(a: string): string {
  const hex = a.replace(/[:-]/g, '').toLowerCase();
  return hex.match(/../g)!.join(':');
}

const address = () =>
  z.string().regex(MAC, { message: 'a BLE address is six hex bytes, e.g. "A4:C1:38:00:11:22" (quote it in YAML)' }).transform(normalizeAddress);

const bindkey = () =>
  z.string().regex(/^[0-9a-fA-F]{32}$/, { message: 'a bindkey is 16 bytes as 32 hex digits' }).transform((k) => Buffer.from(k, 'hex'));

const userDecoder = z
  .strictObject({
    /** Published as `format`; usable in allow.formats. */
    name: z.string().regex(/^[a-z0-9_-]{1,32}$/i, { message: 'a decoder name is 1-32 letters, digits, _ or -' }),
    /** A JavaScript file defining `module.exports = function (input) { ... }` (docs/ble.md). */
    file: z.string().min(1),
    /** Company id of the manufacturer data it decodes, e.g. 0x0059 (Nordic) or 89. */
    manufacturer_id: z.number().int().min(0).max(0xffff).optional(),
    /** Service-data UUID it decodes, e.g. "0xfe95" or "fe95". */
    service_uuid: z.string().regex(/^(0x)?[0-9a-fA-F]{4}$|^[0-9a-fA-F-]{32,36}$/).transform(normalizeUuid).optional(),
  })
  .refine((d) => (d.manufacturer_id === undefined) !== (d.service_uuid === undefined), { message: 'give a user decoder exactly one of manufacturer_id or service_uuid' });

/**
 * `adapters.ble` in fieldgate.yaml. Off by default: scanning needs the radio and raw HCI
 * capabilities, and the neighbourhood's devices are none of our business until allowed.
 */
export const bleConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  /** hciN to use (NOBLE_HCI_DEVICE_ID); the Pi's built-in radio is hci0. */
  hci_device: z.number().int().min(0).max(15).default(0),
  /**
   * Which devices are published. Nothing by default: a device is published when its address is
   * listed (here or under `devices`) or its decoded format is listed; "*" allows every decoded format.
   */
  allow: z
    .strictObject({
      addresses: z.array(address()).default([]),
      formats: z.array(z.enum([...BUILTIN_FORMATS, '*'] as [string, ...string[]]).or(z.string().regex(/^[a-z0-9_-]{1,32}$/i))).default([]),
      /**
       * Devices first allowed by their format (not listed by address) admitted per minute; beyond
       * it their adverts are counted (adverts/admission_limited) and ignored. A neighbour inventing
       * addresses cannot grow the per-device state without bound.
       */
      new_devices_per_minute: z.number().int().min(1).default(60),
    })
    .prefault({}),
  /** Per-device settings, keyed by address (quoted). A device listed here is allowed. */
  devices: z
    .record(
      z.string(),
      z.strictObject({
        /** AES-128 key of encrypted BTHome or pvvx beacons. */
        bindkey: bindkey().optional(),
        /** Shown in `fieldgate ble scan`; not published. */
        name: z.string().optional(),
      }),
    )
    .default({})
    .superRefine((rec, ctx) => {
      for (const k of Object.keys(rec)) if (!MAC.test(k)) ctx.addIssue({ code: 'custom', path: [k], message: `"${k}" is not a BLE address like "A4:C1:38:00:11:22"` });
    })
    .transform((rec) => new Map(Object.entries(rec).map(([k, v]) => [normalizeAddress(k), v]))),
  publish: z
    .strictObject({
      /** Publish only when a decoded value changed (sensors repeat the same reading many times a second). */
      change_only: z.boolean().default(true),
      /** At most one message per device per this interval; later readings replace the pending one. */
      min_interval: duration().default(10_000),
      /** With change_only, publish an unchanged reading again after this long anyway; 0 = never. */
      heartbeat: duration().default(300_000),
      /** Ignore advertisements weaker than this (dBm). */
      min_rssi: z.number().int().min(-127).max(20).default(-127),
      qos: z.union([z.literal(0), z.literal(1)]).default(0),
    })
    .prefault({}),
  /** An allowed device unheard for this long is reported offline. */
  presence_timeout: duration().default(300_000),
  gatt: z
    .strictObject({
      /** Connections open at once, all devices together (a Pi's controller manages a few). */
      max_connections: z.number().int().min(1).max(10).default(3),
      connect_timeout: duration().default(10_000),
      /** Each read, write, subscribe or discovery. */
      command_timeout: duration().default(10_000),
      /** Disconnect a device after this long without a command or notification; 0 = keep. */
      idle_timeout: duration().default(60_000),
      /** Commands waiting per device while one runs; beyond it they are answered "busy". */
      max_queued: z.number().int().min(0).max(100).default(8),
    })
    .prefault({}),
  user_decoders: z.array(userDecoder).default([]),
  /** A user decoder call that runs longer is stopped and reported. */
  user_decoder_time_limit: duration().default(100),
  /** A user decoder that keeps timing out is disabled for a while (docs/ble.md, "User decoders"). */
  user_decoder_breaker: z
    .strictObject({
      /** Timeouts of one decoder within `window` that disable it for `cooldown`. */
      timeouts: z.number().int().min(1).default(5),
      /** Timeouts on one address within `window` after which the decoder skips that address for `cooldown`. */
      address_timeouts: z.number().int().min(1).default(2),
      window: duration().default(60_000),
      cooldown: duration().default(300_000),
    })
    .prefault({}),
  /**
   * Distinct addresses one noble instance may have heard before it is replaced by a fresh one
   * (noble keeps every address it sees, never pruned; stopping the instance releases them all;
   * docs/ble.md, "Memory and random addresses").
   */
  max_seen_addresses: z.number().int().min(100).default(20_000),
  /** How long start() waits for the radio to come up before reporting it unavailable. */
  radio_timeout: duration().default(10_000),
});

export type BleConfig = z.output<typeof bleConfigSchema>;
