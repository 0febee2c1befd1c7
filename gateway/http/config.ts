import { z } from 'zod';
import { byteSize } from '../config/duration.ts';
import { rate } from '../limits/rate.ts';

export const httpSchema = z.strictObject({
  enabled: z.boolean().default(true),
  host: z.string().min(1).default('0.0.0.0'),
  port: z.number().int().min(0).max(65535).default(18083),
  tls: z.strictObject({
    enabled: z.boolean().default(false),
    cert_file: z.string().optional(),
    key_file: z.string().optional(),
  }).refine((t) => !t.enabled || (t.cert_file && t.key_file), { message: 'http.tls.enabled needs cert_file and key_file' }).prefault({}),
  /** `loopback`: requests from this machine may read (GET) without an API key. `never`: every request needs one. */
  anonymous_read: z.enum(['loopback', 'never']).default('loopback'),
  /** Wrong credentials allowed per client address before it gets 429 for a while. */
  auth_failure_rate: rate().prefault('10/m'),
  trace: z.strictObject({
    /** Each trace file stops growing at this size (the trace keeps running, counting what it skipped). */
    max_file_size: byteSize().default(10 * 1024 * 1024),
    /** Traces kept at once (running or stopped), like EMQX's 30. */
    max_traces: z.number().int().min(1).max(100).default(30),
  }).prefault({}),
});

export type HttpConfig = z.output<typeof httpSchema>;
