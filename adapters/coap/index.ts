import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { CoapAdapter } from './adapter.ts';
import { coapConfigSchema } from './config.ts';

export { CoapAdapter } from './adapter.ts';
export type { DatagramTransport } from '../lib/coap/index.ts';

/** CoAP sensors and NB-IoT devices, EMQX CoAP gateway compatible (docs/coap.md). */
export const coapAdapter: AdapterDefinition<typeof coapConfigSchema> = {
  name: 'coap',
  configSchema: coapConfigSchema,
  create: (config) => new CoapAdapter(config),
};
