// Shared setup for the CoAP adapter's integration tests (not a test file itself).
import { startGateway, type TestGateway } from '../../gateway/test/helpers.ts';
import type { AdapterDefinition } from '../../gateway/core/adapter.ts';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { coapAdapter } from './index.ts';

export interface CoapGateway extends TestGateway {
  coapPort: number;
  client(): Promise<CoapClient>;
  metric(name: string): number;
}

/** A real gateway with the CoAP adapter on 127.0.0.1, OS-chosen ports, IPv4 only. */
export async function startCoap(coap: Record<string, unknown> = {}, doc: Record<string, unknown> = {}): Promise<CoapGateway> {
  const t = await startGateway({ ...doc, adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false }, ...coap } } }, [coapAdapter]);
  const coapPort = t.gw.metrics.snapshot()['adapters/coap/port'];
  if (!coapPort) throw new Error('CoAP adapter did not report its port (adapters/coap/port)');
  const clients: CoapClient[] = [];
  return {
    ...t,
    coapPort,
    metric: (name) => t.gw.metrics.snapshot()[`adapters/coap/${name}`] ?? 0,
    client: async () => {
      const c = await CoapClient.open('127.0.0.1', coapPort);
      clients.push(c);
      return c;
    },
    stop: async () => {
      for (const c of clients) c.close();
      await t.stop();
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
