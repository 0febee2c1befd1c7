import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import type { BleAdapterOptions } from './adapter.ts';
import { bleConfigSchema, type BleConfig } from './config.ts';

export type { BleAdapterOptions };

/** The adapter definition; tests and the simulator pass their own noble (bindings seam). */
export function bleAdapterDefinition(opts: BleAdapterOptions = {}): AdapterDefinition<typeof bleConfigSchema> {
  // Its module (and noble with its HCI addon) is loaded only when the adapter is enabled
  // (gateway/core/adapter.ts).
  return { name: 'ble', configSchema: bleConfigSchema, create: async (config) => new (await import('./adapter.ts')).BleAdapter(config, opts) };
}

export const bleAdapter = bleAdapterDefinition();
export { bleConfigSchema };
export type { BleConfig };
