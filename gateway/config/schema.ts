import { z } from 'zod';
import { bridgeSchema } from '../bridge/config.ts';
import { httpSchema } from '../http/config.ts';
import { limitsSchema } from '../limits/config.ts';
import { LOGIN_DEFAULTS } from '../auth/login-guard.ts';
import { byteSize, duration } from './duration.ts';

// The one declaration of the gateway's core configuration. Adapter sections are declared by each
// adapter and composed in by the composition root (gateway/app/config.ts), so this file never
// imports an adapter.

const port = () => z.number().int().min(0).max(65535);
const host = () => z.string().min(1);

const tcpListener = z.strictObject({
  enabled: z.boolean().default(true),
  host: host().default('0.0.0.0'),
  port: port().default(1883),
});

const tlsListener = z.strictObject({
  enabled: z.boolean().default(false),
  host: host().default('0.0.0.0'),
  port: port().default(8883),
  cert_file: z.string().optional(),
  key_file: z.string().optional(),
  ca_file: z.string().optional(),
  require_client_cert: z.boolean().default(false),
}).refine((l) => !l.enabled || (l.cert_file && l.key_file), {
  message: 'an enabled TLS listener needs cert_file and key_file',
});

const wsListener = z.strictObject({
  enabled: z.boolean().default(false),
  host: host().default('0.0.0.0'),
  port: port().default(8083),
  path: z.string().startsWith('/').default('/mqtt'),
});

const aclRule = z.strictObject({
  permission: z.enum(['allow', 'deny']),
  action: z.enum(['publish', 'subscribe', 'all']).default('all'),
  topics: z.array(z.string().min(1)).min(1),
  user: z.string().optional(),
  clientid: z.string().optional(),
  ipaddress: z.string().optional(),
});

const user = z.strictObject({
  username: z.string().min(1),
  // The whole format, so a placeholder such as '$scrypt$N=16384,r=8,p=1$...' is caught by
  // `fieldgate check` instead of locking the user out at run time.
  password_hash: z.string().regex(
    /^\$scrypt\$N=\d+,r=\d+,p=\d+\$[A-Za-z0-9+/]+={0,2}\$[A-Za-z0-9+/]+={0,2}$/,
    'is not a complete scrypt hash ($scrypt$N=..,r=..,p=..$<salt>$<hash>); paste the whole line printed by `fieldgate passwd`',
  ),
});

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `log:`; `adapters` takes one optional level per known adapter, so a misspelt name is an error. */
export function logSection(adapterNames: readonly string[]) {
  const perAdapter = z.strictObject(Object.fromEntries(adapterNames.map((n) => [n, z.enum(LEVELS).optional()]))) as z.ZodType<Record<string, (typeof LEVELS)[number] | undefined>>;
  return z.strictObject({
    level: z.enum(LEVELS).default('info'),
    format: z.enum(['auto', 'json', 'pretty', 'journal']).default('auto'),
    /** Per-client lines (connect, disconnect, refusal); default: log.level. `warn` keeps refusals only. */
    clients: z.enum(LEVELS).optional(),
    adapters: perAdapter.default({}),
  }).prefault({});
}

export const coreSchema = z.strictObject({
  gateway: z.strictObject({
    id: z.string().regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, "_", "." and "-" only').default('fieldgate'),
    data_dir: z.string().min(1).default('./data'),
    shutdown_timeout: duration().default(10_000),
    /** Devices the registry remembers; beyond it the least recently seen offline ones are forgotten. */
    max_devices: z.number().int().min(1).default(100_000),
  }).prefault({}),
  log: logSection([]),
  broker: z.strictObject({
    listeners: z.strictObject({
      tcp: tcpListener.prefault({}),
      tls: tlsListener.prefault({}),
      ws: wsListener.prefault({}),
    }).prefault({}),
    max_packet_size: byteSize().pipe(z.number().min(64, 'must be at least 64 bytes')).default(1024 * 1024),
    max_queued_messages: z.number().int().min(1).default(1000),
    /** Bounds of persistent sessions (clean session 0); docs/broker.md "Sessions". */
    max_sessions: z.number().int().min(1).default(10_000),
    max_session_queue_bytes: byteSize().pipe(z.number().min(1024, 'must be at least 1KB')).default(1024 * 1024),
    max_queued_bytes: byteSize().pipe(z.number().min(1024, 'must be at least 1KB')).default(32 * 1024 * 1024),
    session_expiry_interval: duration().default(2 * 3600_000),
    /** Bound of the retained store (EMQX's retainer.max_retained_messages; here never unlimited): a new retained topic beyond is delivered, not retained. */
    max_retained_messages: z.number().int().min(1).default(10_000),
    max_retained_bytes: byteSize().pipe(z.number().min(1024, 'must be at least 1KB')).default(16 * 1024 * 1024),
    /** Filters one client may hold (EMQX's mqtt.max_subscriptions); beyond, SUBACK 0x80. aedes's matching cost grows faster than the filter count. */
    max_subscriptions: z.number().int().min(1).default(100),
    /** disk: persistent sessions and retained messages survive a restart (<data_dir>/broker); memory: they do not. */
    persistence: z.enum(['disk', 'memory']).default('disk'),
    /** Also queue QoS 0 messages for offline persistent sessions (EMQX's mqueue_store_qos0). */
    queue_qos0: z.boolean().default(false),
    /** How a message for a shared subscription ($share/{group}/..., $queue/...) picks its member. */
    shared_subscription_strategy: z.enum(['random', 'round_robin', 'sticky', 'hash_clientid']).default('round_robin'),
    /** A persistent shared-subscription member offline this long hands its unacknowledged shared messages to a connected member (0: only when its session ends, as EMQX). */
    shared_redispatch_after: duration().default(0),
    /** Subscribed for every MQTT client at connect (EMQX auto_subscribe); %c and %u are expanded, the ACL applies. */
    auto_subscribe: z.array(z.strictObject({
      topic: z.string().min(1),
      qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(0),
    })).default([]),
    connect_timeout: duration().default(30_000),
  }).prefault({}),
  auth: z.strictObject({
    allow_anonymous: z.enum(['loopback', 'always', 'never']).default('loopback'),
    users: z.array(user).default([]),
    acl: z.array(aclRule).default([]),
    acl_nomatch: z.enum(['allow', 'deny']).default('deny'),
    /** Password-guessing limits (gateway/auth/login-guard.ts, docs/broker.md "Login floods"). */
    login: z.strictObject({
      max_failures: z.number().int().min(1).default(LOGIN_DEFAULTS.max_failures),
      backoff_initial: duration().default(LOGIN_DEFAULTS.backoff_initial),
      backoff_max: duration().default(LOGIN_DEFAULTS.backoff_max),
      max_concurrent_checks: z.number().int().min(1).default(LOGIN_DEFAULTS.max_concurrent_checks),
      max_waiting_checks: z.number().int().min(0).default(LOGIN_DEFAULTS.max_waiting_checks),
      per_address_checks: z.number().int().min(1).default(LOGIN_DEFAULTS.per_address_checks),
      cache_ttl: duration().default(LOGIN_DEFAULTS.cache_ttl),
    }).prefault({}),
  }).prefault({}),
  sys: z.strictObject({
    interval: duration().pipe(z.number().min(100, 'must be at least 100ms')).default(60_000),
    client_events: z.boolean().default(true),
  }).prefault({}),
  adapters: z.record(z.string(), z.unknown()).default({}),
  bridge: bridgeSchema.prefault({}),
  http: httpSchema.prefault({}),
  limits: limitsSchema.prefault({}),
});

export type CoreConfig = z.output<typeof coreSchema>;
export type AclRule = z.output<typeof aclRule>;
export type AuthConfig = CoreConfig['auth'];
export type BrokerConfig = CoreConfig['broker'];
