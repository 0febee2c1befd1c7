/**
 * Exponential backoff with jitter, the one copy for the gateway (bridge reconnects and PUBACK
 * refusals, adapter restarts in the supervisor).
 *
 * The base delay is `initial * 2^attempt`, capped at `max`. Jitter spreads the actual wait so a
 * fleet (or a set of adapters) that failed together does not retry in lockstep:
 * - `below` (default): drawn from `[base*(1-jitter), base]`, so `max` is never exceeded (the
 *   bridge's documented `backoff` option);
 * - `around`: drawn from `[base*(1-jitter), base*(1+jitter)]`, centred on the base.
 */
export interface BackoffOptions {
  /** Delay of the first retry (attempt 0), in ms. */
  initial: number;
  /** Cap of the base delay, in ms. */
  max: number;
  /** Fraction of the base delay that is randomised, 0..1. */
  jitter: number;
  spread?: 'below' | 'around';
}

/** Exponents past this would only overflow to Infinity before the cap applies. */
const MAX_EXPONENT = 30;

/**
 * The wait before retry number `attempt` (0 for the first retry), in whole ms. `random` is
 * injectable for tests; it must return a number in [0, 1) like Math.random.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const { initial, max, spread = 'below' } = opts;
  const jitter = Math.min(1, Math.max(0, opts.jitter));
  const n = Math.min(Math.max(0, Math.floor(attempt)), MAX_EXPONENT);
  const base = Math.min(max, initial * 2 ** n);
  const r = random();
  const factor = spread === 'around' ? 1 + jitter * (2 * r - 1) : 1 - jitter * r;
  return Math.round(base * factor);
}
