import { z } from 'zod';
import { duration } from '../../gateway/config/duration.ts';
import { endpointRuleSchema } from './endpoints.ts';

const translator = (topic: string) => z.strictObject({ topic: z.string().min(1).default(topic), qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(0) }).prefault({});

const PATH = /^\/\d{1,5}(\/\d{1,5}){0,3}$/;

/** EMQX: false|"off" | true|"on" | "/3/0,/3/0/1" | ["/3/0", "/3/0/1"]. Normalized to false, true or a path list. */
const autoObserve = z
  .union([z.boolean(), z.string(), z.array(z.string())])
  .transform((v, ctx): boolean | string[] => {
    if (typeof v === 'boolean') return v;
    if (v === 'on') return true;
    if (v === 'off' || v === '') return false;
    const list = (typeof v === 'string' ? v.split(',') : v).map((s) => s.trim()).filter((s) => s !== '');
    for (const p of list) {
      if (!PATH.test(p)) {
        ctx.addIssue({ code: 'custom', message: `auto_observe: "${p}" is not an LwM2M path like /3/0/1` });
        return z.NEVER;
      }
    }
    return list;
  });

/**
 * `adapters.lwm2m` in fieldgate.yaml. Names and defaults follow EMQX's `gateway.lwm2m`
 * (emqx_lwm2m_schema.erl) so a config ported from EMQX reads the same. Off by default, like tcp.
 */
export const lwm2mConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(5783),
  ipv6: z.strictObject({ enabled: z.boolean().default(true), host: z.string().min(1).default('::') }).prefault({}),
  /** Extra OMA object definitions (DDF XML), read at start; built-in: OMA 0-7 and IPSO 3300-3350. */
  xml_dir: z.string().min(1).optional(),
  /** Registrations asking for less are given this lifetime (EMQX accepts any; 0 or missing = lifetime_max). */
  lifetime_min: duration().default(15_000),
  lifetime_max: duration().default(86_400_000),
  /** Queue-mode devices are reachable for this long after their last message; later commands wait for the next Update. */
  qmode_time_window: duration().default(22_000),
  auto_observe: autoObserve.default(false),
  update_msg_publish_condition: z.enum(['always', 'contains_object_list']).default('always'),
  /** ${endpoint_name} ${clientid} ${username} ${peerhost}; also EMQX 4.x %e and %a. */
  mountpoint: z.string().default('lwm2m/${endpoint_name}/'),
  translators: z.strictObject({
    command: translator('dn/#'),
    response: translator('up/resp'),
    notify: translator('up/notify'),
    register: translator('up/resp'),
    update: translator('up/update'),
  }).prefault({}),
  /**
   * Payload format of write and create requests. EMQX sends TLV; `text` sends a single-resource
   * write as text/plain (TLV for the rest) for 1.0 clients without TLV; LwM2M 1.1 devices may want SenML CBOR.
   */
  write_format: z.enum(['tlv', 'text', 'senml-json', 'senml-cbor']).default('tlv'),
  /** A command not yet sent after this long is dropped and reported (`mheaders.ttl` overrides, in seconds). */
  command_ttl: duration().default(7_200_000),
  /** Commands waiting per device (beyond the one in flight); a command over it gets 5.03 service_unavailable at once. */
  max_queued_commands: z.number().int().min(1).default(100),
  max_devices: z.number().int().min(1).default(100_000),
  /** Config-mapped credentials: endpoint name (exact or `*` pattern) -> a user of auth.users and/or source CIDRs (endpoints.ts). */
  endpoints: z.array(endpointRuleSchema).default([]),
  /** Registrations per second per source IP address (its ports together); excess gets 4.29 / is dropped. 0 = no limit. */
  register_rate: z.number().min(0).default(10),
  register_burst: z.number().int().min(1).default(20),
  /** Updates per second per device; the excess gets 4.29 with Max-Age = seconds to wait. 0 = no limit. */
  update_rate: z.number().min(0).default(1),
  update_burst: z.number().int().min(1).default(10),
  /** RFC 7252 4.8 transmission parameters for requests the gateway sends to devices. */
  coap: z.strictObject({
    ack_timeout: duration().default(2000),
    ack_random_factor: z.number().min(1).max(4).default(1.5),
    max_retransmit: z.number().int().min(0).max(10).default(4),
    /** How long to wait for a separate response after an empty ACK. */
    separate_timeout: duration().default(60_000),
    max_block_size: z.union([z.literal(16), z.literal(32), z.literal(64), z.literal(128), z.literal(256), z.literal(512), z.literal(1024)]).default(1024),
    /** Largest body accepted from a device in a Block2 read. */
    max_body_size: z.number().int().min(1024).default(4 * 1024 * 1024),
  }).prefault({}),
});

export type Lwm2mConfig = z.output<typeof lwm2mConfigSchema>;
