// Shared setup for the CoAP adapter's integration tests (not a test file itself).
import { startGateway, type LogLine, type TestGateway } from '../../gateway/test/helpers.ts';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { AdapterContext, AdapterDefinition, PublishRequest } from '../../gateway/core/adapter.ts';
import { Metrics } from '../../gateway/metrics/metrics.ts';
import { CoapClient } from '../../firmware-sim/coap/client.ts';
import { coapAdapter } from './index.ts';
import { ServiceRegistry } from '../../gateway/core/services.ts';

export interface CoapGateway extends TestGateway {
  coapPort: number;
  client(): Promise<CoapClient>;
  metric(name: string): number;
}

/** A real gateway with the CoAP adapter on 127.0.0.1, OS-chosen ports, IPv4 only. With `lines`, log lines (info and up) land there. */
export async function startCoap(coap: Record<string, unknown> = {}, doc: Record<string, unknown> = {}, lines?: LogLine[]): Promise<CoapGateway> {
  const t = await startGateway({ ...doc, adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false }, ...coap } } }, [coapAdapter], undefined, undefined, lines);
  const coapPort = t.gw.adapterPorts('coap').udp;
  if (!coapPort) throw new Error('the CoAP adapter is not running (no bound port)');
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

/**
 * An adapter context whose gateway side records what it is given: publishes, and every log line
 * (parsed JSON, debug and up), with real metrics.
 */
export function recordingContext(): { ctx: AdapterContext; published: PublishRequest[]; lines: { level: number; msg: string }[]; metrics: Metrics } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(JSON.parse(chunk.toString()) as { level: number; msg: string }), cb()) });
  const published: PublishRequest[] = [];
  const metrics = new Metrics();
  const ctx: AdapterContext = {
    messages: {
      publish: async (r) => void published.push(r),
      subscribe: async () => ({ unsubscribe: async () => {} }),
      authenticate: async () => ({ ok: true }),
      identify: async () => ({ ok: true }),
      deviceConnected: () => {},
      deviceDisconnected: () => {},
      deviceSeen: () => {},
    },
    log: pino({ level: 'debug' }, sink),
    metrics: metrics.scoped('adapters/coap'),
    registry: { get: () => undefined, list: () => [] },
    services: new ServiceRegistry().scoped({ name: 'coap', uses: ['datagram/'] }),
    fail: (err) => {
      throw err;
    },
  };
  return { ctx, published, lines, metrics };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
