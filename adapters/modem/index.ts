import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { modemConfigSchema, type ModemAdapterConfig } from './config.ts';

export const modemAdapter: AdapterDefinition<typeof modemConfigSchema> = {
  name: 'modem',
  configSchema: modemConfigSchema,
  // NB-IoT modems with nbiot.protocol coap or lwm2m offer their socket as datagram/<modem name>.
  provides: ['datagram/'],
  // NB-IoT health: $SYS/brokers/{node}/modems/{modem}/{registration,attached,operator,...}.
  sysScope: 'modems',
  // Its module (and serialport with its native addon) is loaded only when the adapter is enabled
  // (gateway/core/adapter.ts).
  create: async (config) => new (await import('./adapter.ts')).ModemAdapter(config),
};

export { modemConfigSchema };
export type { ModemAdapterConfig };
