import { resolve } from 'node:path';
import { z } from 'zod';
import { duration } from '../../gateway/config/duration.ts';

const hex = (bytes: number, what: string) =>
  z
    // YAML reads 00001234 as a number: hex strings must be quoted.
    .string({ error: `${what}: ${bytes * 2} hex digits in quotes, e.g. "${'0a'.repeat(bytes)}"` })
    .transform((s) => s.replace(/\s+/g, ''))
    .refine((s) => new RegExp(`^[0-9a-fA-F]{${bytes * 2}}$`).test(s), { message: `${what} must be ${bytes * 2} hex digits (${bytes} bytes)` })
    .transform((s) => s.toLowerCase());

const decoder = z.union([
  z.enum(['hex', 'json', 'lpp']),
  z.strictObject({
    /** A TTN-style payload formatter file defining decodeUplink(input). */
    script: z.string().min(1),
    /** Time limit per frame; a decoder that runs longer is stopped and the raw frame published with an error. */
    timeout: duration().default(100),
  }),
]);

const node = z.strictObject({
  /** Node id as 8 hex digits (the frame carries it as a 32-bit number). Used in topics: lora/{id}/up. */
  id: hex(4, 'node id'),
  /** AES-128 key shared with the node (32 hex digits); use ${env:...} or ${file:...} to keep it out of the file. */
  key: hex(16, 'node key'),
  decoder: decoder.default('hex'),
});

const lora = z.strictObject({
  frequency: z.number().int().min(150_000_000).max(960_000_000).default(868_100_000),
  sf: z.number().int().min(5).max(12).default(7),
  bw: z.union([z.literal(125), z.literal(250), z.literal(500)]).default(125),
  /** Coding rate: 0 = 4/5, 1 = 4/6, 2 = 4/7, 3 = 4/8 (RUI3 numbering). */
  cr: z.number().int().min(0).max(3).default(0),
  preamble: z.number().int().min(5).max(65535).default(8),
  /** TX power in dBm. */
  power: z.number().int().min(-4).max(22).default(14),
  /** RN2483 only: sync word in hex (12 = private networks, 34 = LoRaWAN public). */
  sync_word: z.string().regex(/^[0-9a-fA-F]{1,2}$/, 'sync_word is 1-2 hex digits, e.g. "12"').default('12'),
});

const backoff = (min: number, max: number) =>
  z
    .strictObject({
      min: duration().default(min),
      max: duration().default(max),
    })
    .prefault({});

const nbiot = z.strictObject({
  /** The UDP port the module listens on (AT+NSOCR / AT+QIOPEN "UDP SERVICE"); devices send to it. */
  listen_port: z.number().int().min(1).max(65535).default(5683),
  /** What the datagrams are: coap and lwm2m go to those adapters' engines, raw is published as it is. */
  protocol: z.enum(['coap', 'lwm2m', 'raw']).default('coap'),
  /** The private APN (bg96: AT+QICSGP). Default: what the network or the SIM provides. */
  apn: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'apn: letters, digits, ".", "_" and "-" (e.g. iot.example.net)').optional(),
  /** Bytes per datagram the module takes. Default 512 (bc95; set 1358 for a BC28) or 1460 (bg96). */
  max_datagram: z.number().int().min(64).max(1460).optional(),
  /** How long to wait between registration checks while the module is not registered (doubling from min to max). */
  attach_retry: backoff(1000, 60_000),
});

const dutyCycle = z
  .strictObject({
    /** Only eu868 is built in: 0.1 % / 1 % / 10 % per ETSI sub-band over a sliding hour. */
    region: z.enum(['eu868', 'none']).default('eu868'),
    /** A downlink that does not fit the budget now waits at most this long, then is refused. 0 = refuse at once. */
    max_wait: duration().default(60_000),
    /** Downlinks waiting (for the radio or the duty cycle) per modem; more are refused. */
    max_queue: z.number().int().min(1).max(1000).default(16),
  });

const LORA_TYPES = ['rak3172', 'rn2483'] as const;
const NBIOT_TYPES = ['bc95', 'bg96'] as const;

const LORA_DEFAULTS = lora.parse({});
const NBIOT_DEFAULTS = nbiot.parse({});
const DUTY_CYCLE_DEFAULTS = dutyCycle.parse({});

// Options that only one family reads. They have no schema default (filled in by the transform
// below), so a key set on the other family's modem is seen and refused instead of silently ignored.
const LORA_ONLY = ['lora', 'frames', 'nodes', 'counters_file', 'presence_timeout', 'duty_cycle', 'timeouts.tx_margin'] as const;
const NBIOT_ONLY = ['nbiot', 'health_interval', 'timeouts.network'] as const;

/** Whether a dotted key (`timeouts.network`) was given for this modem. */
function given(m: Record<string, unknown>, key: string): boolean {
  const [a, b] = key.split('.') as [string, string | undefined];
  const v = m[a];
  return b === undefined ? v !== undefined : typeof v === 'object' && v !== null && (v as Record<string, unknown>)[b] !== undefined;
}

const modem = z
  .strictObject({
    /** Used in topics (lora/{name}/up, nbiot/{name}/...) and log lines. */
    name: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'modem name: 1-32 letters, digits, "_" or "-" (it is used in topics)'),
    type: z.enum([...LORA_TYPES, ...NBIOT_TYPES]),
    /** Configured, never guessed: /dev/serial0, /dev/ttyUSB0, /dev/serial/by-id/... */
    path: z.string().min(1),
    /** Default: 115200 for rak3172 (RUI3) and bg96, 57600 for rn2483, 9600 for bc95. */
    baud: z.number().int().positive().optional(),
    /** LoRa modules only (rak3172, rn2483). */
    lora: lora.optional(),
    /** NB-IoT modules only (bc95, bg96). */
    nbiot: nbiot.optional(),
    /** NB-IoT: signal, registration, operator and address are read this often (metrics, $SYS, nbiot/{name}/status). Default 60 s. */
    health_interval: duration().optional(),
    /** LoRa: raw (default) or fieldgate frames. */
    frames: z.enum(['raw', 'fieldgate']).optional(),
    /** fieldgate frames: the nodes accepted from; frames from any other node id are dropped and counted. */
    nodes: z.array(node).optional(),
    /**
     * fieldgate frames: where the last frame counter per node is kept across restarts (replay
     * protection). Relative paths are under gateway.data_dir; default <data_dir>/lora-counters-<name>.json.
     */
    counters_file: z.string().min(1).optional(),
    /**
     * fieldgate frames: a node is online (connected in the registry, $SYS, the HTTP API) from its
     * first accepted frame until it has not been heard for this long. Default 30 min: set it above
     * twice the nodes' uplink interval, so one lost frame does not take a node offline.
     */
    presence_timeout: duration().optional(),
    /** LoRa: downlink duty cycle (defaults in dutyCycle). */
    duty_cycle: dutyCycle.optional(),
    timeouts: z
      .strictObject({
        /** A plain command's final result. */
        command: duration().default(1000),
        /** A reboot (mode switch, soft reset) until its banner. Default 5 s for LoRa modules, 30 s for NB-IoT ones. */
        reboot: duration().optional(),
        /** NB-IoT: commands that wait for the network (AT+CFUN=1, AT+QIACT, AT+QIOPEN, a send). Default 60 s. */
        network: duration().optional(),
        /** LoRa: added to the computed airtime when waiting for the end of a transmission. Default 1 s. */
        tx_margin: duration().optional(),
      })
      .prefault({}),
    /** An idle modem is pinged this often; a silent one goes down the recovery ladder. */
    probe_interval: duration().default(30_000),
    reconnect: backoff(500, 30_000),
  })
  .superRefine((m, ctx) => {
    const isNbiot = (NBIOT_TYPES as readonly string[]).includes(m.type);
    const [foreign, family, hint] = isNbiot ? [LORA_ONLY, 'LoRa modules (rak3172, rn2483)', ' (raw datagrams: nbiot: { protocol: raw })'] : [NBIOT_ONLY, 'NB-IoT modules (bc95, bg96)', ''];
    for (const key of foreign) {
      if (given(m, key)) ctx.addIssue({ code: 'custom', path: key.split('.'), message: `modem ${m.name}: ${key} is only for ${family}, not a ${m.type}; remove it${key === 'frames' || key === 'nodes' ? hint : ''}` });
    }
    if (isNbiot) {
      if (m.type === 'bc95' && (m.nbiot?.max_datagram ?? 0) > 1358) ctx.addIssue({ code: 'custom', path: ['nbiot', 'max_datagram'], message: `modem ${m.name}: a bc95 family module takes at most 1358 bytes per datagram (BC28; 512 for a BC95)` });
      return;
    }
    // What each module accepts (modems.md §1.1, §1.3): caught here, bring-up would otherwise fail forever.
    const l = m.lora ?? LORA_DEFAULTS;
    if (m.type === 'rn2483') {
      if (l.sf < 7) ctx.addIssue({ code: 'custom', path: ['lora', 'sf'], message: `modem ${m.name}: an rn2483 supports SF7-SF12, not SF${l.sf}` });
      if (l.power < -3 || l.power > 15) ctx.addIssue({ code: 'custom', path: ['lora', 'power'], message: `modem ${m.name}: an rn2483 transmits at -3..15 dBm, not ${l.power}` });
      const f = l.frequency;
      if (!((f >= 433_050_000 && f <= 434_790_000) || (f >= 863_000_000 && f <= 870_000_000))) ctx.addIssue({ code: 'custom', path: ['lora', 'frequency'], message: `modem ${m.name}: an rn2483 tunes 433.05-434.79 or 863-870 MHz, not ${f / 1e6} MHz` });
    } else if (l.power < 5 || l.power > 22) {
      ctx.addIssue({ code: 'custom', path: ['lora', 'power'], message: `modem ${m.name}: a rak3172 (AT+PTP) transmits at 5..22 dBm, not ${l.power}` });
    }
    const frames = m.frames ?? 'raw';
    const nodes = m.nodes ?? [];
    if (frames === 'fieldgate' && nodes.length === 0) ctx.addIssue({ code: 'custom', path: ['nodes'], message: `modem ${m.name}: frames: fieldgate needs at least one node (id, key)` });
    if (frames === 'raw' && nodes.length > 0) ctx.addIssue({ code: 'custom', path: ['nodes'], message: `modem ${m.name}: nodes are only used with frames: fieldgate` });
    const seen = new Set<string>();
    for (const n of nodes) {
      if (seen.has(n.id)) ctx.addIssue({ code: 'custom', path: ['nodes'], message: `modem ${m.name}: node ${n.id} is listed twice` });
      seen.add(n.id);
    }
  })
  // Every option is filled with its default, the other family's too, so the code reads cfg.lora,
  // cfg.nbiot, cfg.timeouts.network ... directly.
  .transform((m) => {
    const isNbiot = (NBIOT_TYPES as readonly string[]).includes(m.type);
    const t = m.timeouts;
    return {
      ...m,
      lora: m.lora ?? LORA_DEFAULTS,
      nbiot: m.nbiot ?? NBIOT_DEFAULTS,
      frames: m.frames ?? 'raw',
      nodes: m.nodes ?? [],
      duty_cycle: m.duty_cycle ?? DUTY_CYCLE_DEFAULTS,
      health_interval: m.health_interval ?? 60_000,
      presence_timeout: m.presence_timeout ?? 30 * 60_000,
      timeouts: { command: t.command, reboot: t.reboot ?? (isNbiot ? 30_000 : 5000), network: t.network ?? 60_000, tx_margin: t.tx_margin ?? 1000 },
    };
  });

/**
 * `adapters.modem` in fieldgate.yaml: LoRa P2P and NB-IoT modules on serial ports. Disabled by default: it
 * opens serial ports, which must be configured explicitly.
 */
export const modemConfigSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    modems: z.array(modem).default([]),
  })
  .superRefine((c, ctx) => {
    const names = new Set<string>();
    const paths = new Set<string>();
    for (const m of c.modems) {
      if (names.has(m.name)) ctx.addIssue({ code: 'custom', path: ['modems'], message: `modem name "${m.name}" is used twice` });
      if (paths.has(m.path)) ctx.addIssue({ code: 'custom', path: ['modems'], message: `serial port ${m.path} is configured for two modems` });
      names.add(m.name);
      paths.add(m.path);
    }
    if (c.enabled && c.modems.length === 0) ctx.addIssue({ code: 'custom', path: ['modems'], message: 'adapters.modem is enabled but lists no modems' });
  });

export type ModemAdapterConfig = z.output<typeof modemConfigSchema>;
export type ModemConfig = ModemAdapterConfig['modems'][number];
export type NodeConfig = ModemConfig['nodes'][number];

/** The counters file of a modem: counters_file resolved against gateway.data_dir, or the default name there. */
export const countersPath = (m: ModemConfig, dataDir: string | undefined): string => resolve(dataDir ?? 'data', m.counters_file ?? `lora-counters-${m.name}.json`);

/** Where a modem's duty-cycle ledger (the last hour's transmissions) is kept across restarts. */
export const ledgerPath = (m: ModemConfig, dataDir: string | undefined): string => resolve(dataDir ?? 'data', `lora-dutycycle-${m.name}.json`);

export const defaultBaud = (m: ModemConfig): number => m.baud ?? (m.type === 'rn2483' ? 57600 : m.type === 'bc95' ? 9600 : 115200);

export const isNbiotModem = (m: ModemConfig): boolean => (NBIOT_TYPES as readonly string[]).includes(m.type);

/** Bytes per datagram: configured, or the module family's limit (modems.md §4.9). */
export const maxDatagram = (m: ModemConfig): number => m.nbiot.max_datagram ?? (m.type === 'bg96' ? 1460 : 512);
