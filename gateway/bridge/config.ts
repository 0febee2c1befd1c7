import { z } from 'zod';
import { byteSize, duration } from '../config/duration.ts';
import { invalidTopicFilter } from '../core/topic.ts';

// The `bridge:` section. Declared here, next to the code that reads it, and composed into the core
// schema by gateway/config/schema.ts. No upstream configured = bridge off, so `npm start` works on
// a machine without a cloud.

const SERVER_URL = /^(mqtt|mqtts|ws|wss):\/\/[^/\s]+/;

const filter = () =>
  z.string().min(1).superRefine((f, ctx) => {
    const bad = invalidTopicFilter(f.replace(/\{[a-zA-Z]+\}/g, 'x'));
    if (bad) ctx.addIssue({ code: 'custom', message: `invalid topic filter "${f}": ${bad}` });
  });

const forwardRule = z.strictObject({
  /** Local topic filter the rule takes messages from. */
  local: filter(),
  /** Remote topic template: {topic} = the local topic, {prefix}, {gatewayId}, {clientid}. */
  remote: z.string().min(1).default('{prefix}/{topic}'),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
  /** Keep the publisher's retain flag (default) or force it. */
  retain: z.boolean().optional(),
  /** `high` goes through the priority lane: sent before any queued `normal` message. */
  priority: z.enum(['normal', 'high']).default('normal'),
});

const downlinkRule = z.strictObject({
  /** Remote topic filter to subscribe to; {prefix}, {gatewayId} and {clientid} are expanded. */
  remote: filter(),
  /** Local topic template: {topic} = the remote topic, {rest} = the part after the filter's fixed levels. */
  local: z.string().min(1).default('{rest}'),
  qos: z.union([z.literal(0), z.literal(1)]).default(1),
});

const tls = z.strictObject({
  ca_file: z.string().optional(),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  /** SNI name and the name the certificate is checked against, when it differs from the URL host. */
  servername: z.string().optional(),
  /** ALPN protocols, e.g. ["x-amzn-mqtt-ca"] for AWS IoT Core on port 443. */
  alpn: z.array(z.string().min(1)).optional(),
  min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** Only for a lab: accepts any server certificate. */
  insecure_skip_verify: z.boolean().default(false),
}).refine((t) => !t.cert_file === !t.key_file, { message: 'cert_file and key_file go together (mTLS needs both)' });

export const upstreamSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-" only'),
  /** One cluster's servers; tried in turn (failover) with backoff between rounds. */
  servers: z.array(z.string().regex(SERVER_URL, 'must look like mqtt://host:1883, mqtts://host:8883, ws://host/mqtt or wss://host/mqtt')).min(1),
  protocol_version: z.union([z.literal(4), z.literal(5)]).default(5),
  /** {gatewayId} is expanded. */
  client_id: z.string().min(1).default('fieldgate-{gatewayId}'),
  /** {gatewayId} and {clientid} are expanded (the password is taken literally). */
  username: z.string().optional(),
  password: z.string().optional(),
  keepalive: duration().default(60_000),
  connect_timeout: duration().default(10_000),
  /** false keeps the remote session (downlink subscriptions queue at the cloud while offline). */
  clean_start: z.boolean().default(true),
  tls: tls.optional(),
  backoff: z.strictObject({
    initial: duration().default(500),
    max: duration().default(60_000),
    /** Each wait is drawn uniformly from [base * (1 - jitter), base]. */
    jitter: z.number().min(0).max(1).default(0.5),
  }).prefault({}),
  /**
   * The largest message this upstream takes (remote topic + payload, after the envelope if any).
   * Larger ones are dropped before sending (counted as `too_large`) instead of being refused or
   * disconnected over forever. AWS IoT Core: 128KB; Azure IoT Hub: 256KB.
   */
  max_message_bytes: byteSize().default(256 * 1024),
  /** Upstream QoS 1 messages awaiting PUBACK. 1 gives strict order even across a resend. */
  inflight: z.number().int().min(1).max(65535).default(64),
  /** Base of the status topic and of the default remote topics; {gatewayId} and {clientid} are expanded. */
  prefix: z.string().min(1).default('fieldgate/{gatewayId}'),
  /** Retained {prefix}/status "online", with a Last Will "offline". */
  status: z.boolean().default(true),
  /**
   * How each message carries its stable id: an MQTT 5 user property `fg-id` (`auto` on MQTT 5), a
   * JSON envelope (`auto` on 3.1.1 leaves it off; choose `envelope` explicitly), or nothing.
   */
  message_id: z.enum(['auto', 'user_property', 'envelope', 'none']).default('auto'),
  forward: z.array(forwardRule).default([{ local: '#', remote: '{prefix}/{topic}', qos: 1, priority: 'normal' }]),
  downlink: z.array(downlinkRule).default([]),
  replay: z.strictObject({
    /**
     * When a backlog and live messages both wait, the share of sends that go to the backlog.
     * Live messages otherwise flow at once, unless an older message of the same topic is queued.
     */
    backlog_share: z.number().min(0.05).max(1).default(0.5),
  }).prefault({}),
}).refine((u) => u.protocol_version === 5 || u.message_id !== 'user_property', { message: 'message_id "user_property" needs protocol_version 5 (use "envelope" on 3.1.1)' });

export const bridgeSchema = z.strictObject({
  queue: z.strictObject({
    /** Where the log lives; default {gateway.data_dir}/bridge. */
    dir: z.string().min(1).optional(),
    /** `memory` keeps the queue in RAM only (lost on restart): for tmpfs-only devices and benchmarks. */
    storage: z.enum(['disk', 'memory']).default('disk'),
    max_bytes: byteSize().default(256 * 1024 * 1024),
    policy: z.enum(['drop_oldest', 'reject_new']).default('drop_oldest'),
    /** Messages older than this are dropped (counted as `expired`) instead of sent; 0 = keep. */
    ttl: duration().default(0),
    /**
     * Minimum spacing of a busy lane's fsyncs (group commit). 0: each commit starts as soon as the
     * previous one ends, carrying everything that arrived meanwhile; more trades latency for fewer
     * flash writes under a steady load.
     */
    sync_interval: duration().default(0),
    /** Segment file size; drops and deletions happen a whole segment at a time. */
    segment_bytes: byteSize().default(16 * 1024 * 1024),
    /**
     * How often acknowledged positions are saved: after a crash, what was acknowledged in the last
     * interval is resent, plus the inflight window.
     */
    checkpoint_interval: duration().default(1000),
  }).prefault({}),
  upstreams: z.array(upstreamSchema).max(32).default([]),
}).refine((b) => new Set(b.upstreams.map((u) => u.name)).size === b.upstreams.length, { message: 'upstream names must be unique' });

export type BridgeConfig = z.output<typeof bridgeSchema>;
export type UpstreamConfig = z.output<typeof upstreamSchema>;
export type ForwardRule = UpstreamConfig['forward'][number];
export type DownlinkRule = UpstreamConfig['downlink'][number];
export type QueueConfig = BridgeConfig['queue'];
