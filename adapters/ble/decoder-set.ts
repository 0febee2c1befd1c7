import type { BleConfig } from './config.ts';
import type { DecodeOptions } from './decoders/index.ts';
import { guardUserDecoder, type BreakerOptions } from './decoders/breaker.ts';
import { loadUserDecoder } from './decoders/user.ts';

type DecoderConfig = Pick<BleConfig, 'devices' | 'user_decoders' | 'user_decoder_time_limit' | 'user_decoder_breaker'>;

/**
 * The bindkeys and compiled user decoders a config names; throws a clear Error for a bad decoder
 * file. With `breaker` (the adapter), each user decoder is behind its circuit breaker.
 */
export function decoderOptions(cfg: DecoderConfig, breaker?: Pick<BreakerOptions, 'onTimeout' | 'onTrip'>): DecodeOptions {
  const bindkeys = new Map<string, Buffer>();
  for (const [addr, d] of cfg.devices) if (d.bindkey) bindkeys.set(addr, d.bindkey);
  const b = cfg.user_decoder_breaker;
  const user = cfg.user_decoders.map((spec) => {
    const d = loadUserDecoder(spec, cfg.user_decoder_time_limit);
    return breaker ? guardUserDecoder(d, { timeouts: b.timeouts, addressTimeouts: b.address_timeouts, windowMs: b.window, cooldownMs: b.cooldown, ...breaker }) : d;
  });
  return { bindkeys, user };
}
