// RFC 7252 4.2 retransmission of Confirmable messages: the first wait is ACK_TIMEOUT times a
// random factor in [1, ACK_RANDOM_FACTOR), doubled after each retransmission; after
// MAX_RETRANSMIT retransmissions the last wait runs out and the exchange has timed out.
import type { Clock } from './clock.ts';

export interface TransmissionParams {
  ackTimeoutMs: number;
  ackRandomFactor: number;
  maxRetransmit: number;
}

export const RFC7252_TRANSMISSION: TransmissionParams = { ackTimeoutMs: 2000, ackRandomFactor: 1.5, maxRetransmit: 4 };

/** EXCHANGE_LIFETIME (RFC 7252 4.8.2) with the default parameters: 247 s. */
export const EXCHANGE_LIFETIME_MS = 247_000;
/** NON_LIFETIME: 145 s. */
export const NON_LIFETIME_MS = 145_000;
/** MAX_TRANSMIT_WAIT: 93 s, the longest a CON can go without an ACK. */
export const MAX_TRANSMIT_WAIT_MS = 93_000;

export interface Retransmission {
  /** Stops retransmitting (the ACK or RST arrived, or the caller gave up). */
  stop(): void;
  /** Transmissions so far, the first one included. */
  readonly sent: number;
}

/**
 * Sends now, and again on each timeout until stop() or MAX_RETRANSMIT retransmissions; then,
 * once the last wait has run out, calls `giveUp(sent)`.
 */
export function retransmit(clock: Clock, params: TransmissionParams, send: () => void, giveUp: (sent: number) => void): Retransmission {
  let wait = params.ackTimeoutMs * (1 + clock.random() * (params.ackRandomFactor - 1));
  let timer: unknown;
  let stopped = false;
  const state = {
    sent: 0,
    stop() {
      stopped = true;
      clock.clearTimeout(timer);
    },
  };
  const tick = () => {
    if (stopped) return;
    if (state.sent > params.maxRetransmit) {
      stopped = true;
      giveUp(state.sent);
      return;
    }
    state.sent++;
    send();
    timer = clock.setTimeout(tick, wait);
    wait *= 2;
  };
  tick();
  return state;
}
