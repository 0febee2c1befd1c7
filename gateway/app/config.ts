import { z } from 'zod';
import { coreSchema, logSection } from '../config/schema.ts';
import { loadConfig } from '../config/load.ts';
import type { AdapterDefinition } from '../core/adapter.ts';

/** The full schema: the core's sections plus one `adapters.<name>` section per known adapter. */
export function buildSchema(defs: readonly AdapterDefinition[]) {
  const sections: Record<string, z.ZodType> = {};
  for (const d of defs) sections[d.name] = (d.configSchema as z.ZodType).prefault({});
  return coreSchema.extend({ log: logSection(defs.map((d) => d.name)), adapters: z.strictObject(sections).prefault({}) });
}

export type GatewayConfig = z.output<ReturnType<typeof buildSchema>>;

export function loadGatewayConfig(defs: readonly AdapterDefinition[], file: string | undefined, env = process.env): GatewayConfig {
  return loadConfig(buildSchema(defs), file, env);
}
