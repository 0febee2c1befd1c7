import type { BleConfig } from './config.ts';
import type { DecodeOptions } from './decoders/index.ts';
import { loadUserDecoder } from './decoders/user.ts';

/** The bindkeys and compiled user decoders a config names; throws a clear Error for a bad decoder file. */
export function decoderOptions(cfg: Pick<BleConfig, 'devices' | 'user_decoders' | 'user_decoder_time_limit'>): DecodeOptions {
  const bindkeys = new Map<string, Buffer>();
  for (const [addr, d] of cfg.devices) if (d.bindkey) bindkeys.set(addr, d.bindkey);
  const user = cfg.user_decoders.map((spec) => loadUserDecoder(spec, cfg.user_decoder_time_limit));
  return { bindkeys, user };
}
