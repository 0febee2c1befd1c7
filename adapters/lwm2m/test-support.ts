// Shared setup for the LwM2M adapter's integration tests (not a test file itself).
import type { IClientOptions, MqttClient } from 'mqtt';
import { connect, endClient, startGateway, until, type LogLine, type TestGateway } from '../../gateway/test/helpers.ts';
import { SimDevice, type SimOptions } from '../../firmware-sim/lwm2m/device.ts';
import { lwm2mAdapter } from './index.ts';

export interface Lwm2mGateway extends TestGateway {
  lwm2mPort: number;
  device(opts: Partial<SimOptions> & { ep: string }): Promise<SimDevice>;
  metric(name: string): number;
  watch(filter?: string, opts?: IClientOptions): Promise<Watcher>;
}

export interface Got {
  topic: string;
  json: Record<string, unknown>;
}

export interface Watcher {
  client: MqttClient;
  got: Got[];
  /** The next message on `topic` (matching `pred`) after `from`. */
  next(topic: string, pred?: (j: Record<string, unknown>) => boolean, what?: string): Promise<Record<string, unknown>>;
  command(ep: string, body: unknown): void;
}

/** A real gateway with the LwM2M adapter on 127.0.0.1, OS-chosen port, IPv4 only. With `lines`, log lines (info and up) land there. */
export async function startLwm2m(lwm2m: Record<string, unknown> = {}, doc: Record<string, unknown> = {}, lines?: LogLine[]): Promise<Lwm2mGateway> {
  const t = await startGateway({ ...doc, adapters: { lwm2m: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false }, ...lwm2m } } }, [lwm2mAdapter], undefined, undefined, lines);
  const port = t.gw.adapterPorts('lwm2m').udp;
  if (!port) throw new Error('the LwM2M adapter is not running (no bound port)');
  const devices: SimDevice[] = [];
  const clients: MqttClient[] = [];
  return {
    ...t,
    lwm2mPort: port,
    metric: (name) => t.gw.metrics.snapshot()[`adapters/lwm2m/${name}`] ?? 0,
    device: async (opts) => {
      const d = await SimDevice.create({ host: '127.0.0.1', port, ...opts });
      devices.push(d);
      return d;
    },
    watch: async (filter = 'lwm2m/#', opts = {}) => {
      const client = await connect(t.url, opts);
      clients.push(client);
      const got: Got[] = [];
      client.on('message', (topic, payload) => {
        try {
          got.push({ topic, json: JSON.parse(payload.toString()) as Record<string, unknown> });
        } catch {
          got.push({ topic, json: { raw: payload.toString() } });
        }
      });
      await new Promise((r) => client.subscribe(filter, { qos: 1 }, r));
      const seen = new Set<Got>();
      return {
        client,
        got,
        next: async (topic, pred = () => true, what = topic) => {
          let found: Got | undefined;
          await until(() => {
            found = got.find((g) => !seen.has(g) && g.topic === topic && pred(g.json));
            return found !== undefined;
          }, what);
          seen.add(found!);
          return found!.json;
        },
        command: (ep, body) => client.publish(`lwm2m/${ep}/dn/dm`, typeof body === 'string' ? body : JSON.stringify(body), { qos: 1 }),
      };
    },
    stop: async () => {
      for (const d of devices) d.close();
      for (const c of clients) await endClient(c);
      await t.stop();
    },
  };
}
