import { z } from 'zod';
import { byteSize, duration } from '../../gateway/config/duration.ts';

const qosPolicy = z.enum(['coap', 'qos0', 'qos1', 'qos2']);

/**
 * `adapters.coap` in fieldgate.yaml. Names follow EMQX's `gateway.coap` where one exists
 * (connection_required, heartbeat, notify_type, publish_qos, subscribe_qos, mountpoint, blockwise).
 */
export const coapConfigSchema = z.strictObject({
  // On by default: a gateway is expected to answer on 5683. If the port is taken, the supervisor
  // logs the bind error and retries with backoff while the rest of the gateway runs.
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(5683),
  ipv6: z.strictObject({
    enabled: z.boolean().default(true),
    host: z.string().min(1).default('::'),
  }).prefault({}),
  mountpoint: z.string().default(''),
  connection_required: z.boolean().default(false),
  heartbeat: duration().default(30_000),
  notify_type: z.enum(['non', 'con', 'qos']).default('qos'),
  publish_qos: qosPolicy.default('coap'),
  subscribe_qos: qosPolicy.default('coap'),
  /** The 4.x `emqx-coap` scheme `/mqtt/{topic}?c=&u=&p=` for older devices. */
  legacy: z.boolean().default(false),
  /** How long a response may take before an empty ACK goes first (RFC 7252 5.2.2). */
  piggyback_timeout: duration().default(500),
  blockwise: z.strictObject({
    enable: z.boolean().default(true),
    max_block_size: z.union([z.literal(16), z.literal(32), z.literal(64), z.literal(128), z.literal(256), z.literal(512), z.literal(1024)]).default(1024),
    max_body_size: byteSize().default(256 * 1024),
    /** All partial uploads together. */
    max_buffered: byteSize().default(4 * 1024 * 1024),
    timeout: duration().default(60_000),
  }).prefault({}),
  limits: z.strictObject({
    /** Requests per second per peer IP address (all its ports together); 0 disables the limit. Excess CON requests get 4.29. */
    rate: z.number().min(0).default(100),
    burst: z.number().int().min(1).default(200),
    /** Responses kept (up to 247 s) to answer retransmitted requests; a few hundred bytes each. */
    dedup_cache: z.number().int().min(100).default(20_000),
    max_peers: z.number().int().min(1).default(10_000),
    max_sessions: z.number().int().min(1).default(10_000),
    max_observers: z.number().int().min(1).default(10_000),
    max_observers_per_client: z.number().int().min(1).default(32),
    /** Observations from one IP address (any port, any clientid). */
    max_observers_per_address: z.number().int().min(1).default(256),
    /**
     * Connectionless observations end when the client has not proved alive for this long: a
     * registration, re-registration or ACK of a CON notification renews it, and after half of it
     * the next notification goes as CON. Quiet topics: re-register within the lease.
     */
    observe_lease: duration().default(24 * 3600_000),
    notify_queue: z.number().int().min(1).default(100),
  }).prefault({}),
});

export type CoapConfig = z.output<typeof coapConfigSchema>;
