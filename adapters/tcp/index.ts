import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { tcpConfigSchema, type TcpConfig } from './config.ts';

export const tcpAdapter: AdapterDefinition<typeof tcpConfigSchema> = {
  name: 'tcp',
  configSchema: tcpConfigSchema,
  // Its module is loaded only when the adapter is enabled (gateway/core/adapter.ts).
  create: async (config) => new (await import('./adapter.ts')).TcpAdapter(config),
};

export { tcpConfigSchema };
export type { TcpConfig };
