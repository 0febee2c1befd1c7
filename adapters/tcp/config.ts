import { z } from 'zod';
import { duration } from '../../gateway/config/duration.ts';

const port = () => z.number().int().min(0).max(65535);

/**
 * `adapters.tcp` in fieldgate.yaml. Names and defaults follow emqx-tcp's `tcp.proto.*` and
 * `tcp.listener.*` so a config ported from EMQX 4.x reads the same. Disabled by default: a plain
 * `npm start` should not open ports nobody asked for.
 */
export const tcpConfigSchema = z.strictObject({
  enabled: z.boolean().default(false),
  host: z.string().min(1).default('0.0.0.0'),
  port: port().default(8090),
  tls: z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).optional(),
      port: port().default(8091),
      cert_file: z.string().optional(),
      key_file: z.string().optional(),
      ca_file: z.string().optional(),
      require_client_cert: z.boolean().default(false),
    })
    .refine((t) => !t.enabled || (t.cert_file && t.key_file), { message: 'adapters.tcp.tls needs cert_file and key_file when enabled' })
    .prefault({}),
  /** Close a connection that has not sent CONNECT within this time (reason `idle_timeout`). */
  idle_timeout: duration().default(15_000),
  /** No bytes for keepalive x this factor closes the connection (reason `keepalive_timeout`). */
  keepalive_backoff: z.number().min(1).max(10).default(1.5),
  /** %c = client id, %u = username. */
  up_topic: z.string().min(1).default('tcp/%c/up'),
  /** Subscribed after CONNECT; empty string = no downlink. */
  dn_topic: z.string().default('tcp/%c/dn'),
  /** Largest frame payload accepted from a device (the 16-bit length field caps it at 65535). */
  max_packet_size: z.number().int().min(16).max(65535).default(65535),
  max_connections: z.number().int().min(1).default(100_000),
  /**
   * Frames read but not yet handled, per connection, before the socket is paused: TCP flow control
   * then pushes back on the device instead of the gateway buffering without bound.
   */
  max_pending_frames: z.number().int().min(1).default(64),
  /** v2 options. */
  v2: z
    .strictObject({
      /** Resend an unacknowledged QoS 1 downlink after this long (with the DUP flag). */
      retry_interval: duration().default(10_000),
      /** QoS 1 downlinks sent but not yet acknowledged, per device. */
      inflight_window: z.number().int().min(1).max(1024).default(16),
      /** Downlinks waiting per device (while the window is full or the device is away); the oldest is dropped beyond it. */
      max_queued_downlinks: z.number().int().min(1).default(100),
      /** Uplink message ids remembered per device, so a retransmission is re-acked, not re-published. */
      dedup_window: z.number().int().min(1).max(4096).default(256),
      /** How long a remembered id (and a resumable session) outlives the connection. */
      session_expiry: duration().default(2 * 3_600_000),
      /**
       * Client ids remembered at most (connected or not). Beyond it the sessions without a connection
       * that left longest ago are forgotten early (`sessions/evicted`): their ids, subscription and queue.
       */
      max_sessions: z.number().int().min(1).default(10_000),
    })
    .prefault({}),
});

export type TcpConfig = z.output<typeof tcpConfigSchema>;
