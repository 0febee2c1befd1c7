import { z } from 'zod';
import { duration } from '../config/duration.ts';
import { rate } from './rate.ts';

// EMQX's names (emqx_limiter_schema): max_conn_rate for the whole listener, messages_rate and
// bytes_rate for each client on it. "infinity" (the default) means no limit.
const limitSet = z.strictObject({
  max_conn_rate: rate().prefault('infinity'),
  messages_rate: rate().prefault('infinity'),
  bytes_rate: rate().prefault('infinity'),
});

export const limitsSchema = z.strictObject({
  /** Per MQTT listener: tcp, tls, ws. */
  listeners: z.strictObject({
    tcp: limitSet.prefault({}),
    tls: limitSet.prefault({}),
    ws: limitSet.prefault({}),
  }).prefault({}),
  /** Per adapter, by the protocol name its devices use (coap, tcp, lwm2m, ...). */
  adapters: z.record(z.string(), limitSet.prefault({})).default({}),
  /** A connection over max_conn_rate waits for its turn this long at most, then is refused. */
  max_conn_wait: duration().default(5_000),
});

export type LimitsConfig = z.output<typeof limitsSchema>;
export type LimitSet = z.output<typeof limitSet>;
