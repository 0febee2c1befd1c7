import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { lwm2mConfigSchema } from './config.ts';

/** LwM2M devices managed by MQTT JSON commands, EMQX LwM2M gateway compatible (docs/lwm2m.md). */
export const lwm2mAdapter: AdapterDefinition<typeof lwm2mConfigSchema> = {
  name: 'lwm2m',
  configSchema: lwm2mConfigSchema,
  // Serves every datagram transport with protocol lwm2m (a modem's NB-IoT socket) besides UDP.
  uses: ['datagram/'],
  // Its module (and cbor2) is loaded only when the adapter is enabled (gateway/core/adapter.ts).
  create: async (config) => new (await import('./adapter.ts')).Lwm2mAdapter(config),
};
