import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { coapConfigSchema } from './config.ts';

export type { DatagramTransport } from '../lib/coap/index.ts';

/** CoAP sensors and NB-IoT devices, EMQX CoAP gateway compatible (docs/coap.md). */
export const coapAdapter: AdapterDefinition<typeof coapConfigSchema> = {
  name: 'coap',
  configSchema: coapConfigSchema,
  // Serves every datagram transport with protocol coap (a modem's NB-IoT socket) besides UDP.
  uses: ['datagram/'],
  // Its module is loaded only when the adapter is enabled (gateway/core/adapter.ts).
  create: async (config) => new (await import('./adapter.ts')).CoapAdapter(config),
};
