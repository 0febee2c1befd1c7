import type { AdapterDefinition } from '../core/adapter.ts';

/**
 * Every protocol adapter the gateway ships, in start order. This is the only module that imports
 * adapters; each protocol's issue adds its definition here.
 */
export const builtinAdapters: readonly AdapterDefinition[] = [];
