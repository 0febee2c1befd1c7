import type { UserDecoder } from './user.ts';

// A user decoder that keeps running into its time limit costs up to that limit per advertisement,
// and a neighbour can send many: after `timeouts` timeouts within `windowMs` the decoder is
// disabled for `cooldownMs`; an address whose adverts time out `addressTimeouts` times within the
// window is skipped (for that decoder) for the cooldown. Skipped means "not mine": built-ins still try.

export interface BreakerOptions {
  timeouts: number;
  addressTimeouts: number;
  windowMs: number;
  cooldownMs: number;
  now?: () => number;
  /** Every timeout (a metric). */
  onTimeout(): void;
  /** The decoder was disabled, or an address is skipped: one line to log. */
  onTrip(kind: 'decoder' | 'address', message: string): void;
}

/** Addresses remembered per decoder: a flood of invented addresses must not grow the map. */
const MAX_ADDRESSES = 1000;

export function guardUserDecoder(u: UserDecoder, o: BreakerOptions): UserDecoder {
  const now = o.now ?? Date.now;
  let recent: number[] = [];
  let disabledUntil = 0;
  const byAddress = new Map<string, { times: number[]; skipUntil: number }>();
  const secs = (ms: number) => `${Math.round(ms / 1000)} s`;

  const addressTimedOut = (address: string, t: number) => {
    let a = byAddress.get(address);
    if (!a) {
      if (byAddress.size >= MAX_ADDRESSES) byAddress.delete(byAddress.keys().next().value!);
      a = { times: [], skipUntil: 0 };
      byAddress.set(address, a);
    }
    a.times = a.times.filter((x) => t - x < o.windowMs);
    a.times.push(t);
    if (a.times.length < o.addressTimeouts) return;
    a.times = [];
    a.skipUntil = t + o.cooldownMs;
    o.onTrip('address', `user decoder "${u.name}" timed out ${o.addressTimeouts} times on ${address} within ${secs(o.windowMs)}: that address is skipped by it for ${secs(o.cooldownMs)}`);
  };

  const run: UserDecoder['run'] = (input) => {
    const t = now();
    if (t < disabledUntil) return undefined;
    if ((byAddress.get(input.id)?.skipUntil ?? 0) > t) return undefined;
    const r = u.run(input);
    if (!r || r.ok || !r.timedOut) return r;
    o.onTimeout();
    addressTimedOut(input.id, t);
    recent = recent.filter((x) => t - x < o.windowMs);
    recent.push(t);
    if (recent.length >= o.timeouts) {
      recent = [];
      disabledUntil = t + o.cooldownMs;
      o.onTrip('decoder', `user decoder "${u.name}" timed out ${o.timeouts} times within ${secs(o.windowMs)}: disabled for ${secs(o.cooldownMs)} (adapters.ble.user_decoder_breaker)`);
    }
    return r;
  };
  return { ...u, run };
}
