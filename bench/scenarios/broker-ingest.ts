import { createServer, type AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import { buildSchema } from '../../gateway/app/config.ts';
import { Gateway } from '../../gateway/app/gateway.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { mqttClient, rate } from '../load.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const COUNT = Number(process.env.BENCH_BROKER_INGEST_COUNT ?? 50_000);
const WINDOW = 64;
const PAYLOAD = Buffer.alloc(100, 0x61);

/** Bare aedes fed over TCP by MQTT.js: the baseline the gateway's in-process path is compared to. */
async function bareAedes(): Promise<number> {
  const broker = await Aedes.createBroker();
  const server = createServer(broker.handle);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as AddressInfo).port;
  const c = await mqttClient(`mqtt://127.0.0.1:${port}`);
  const perSec = await rate(COUNT, WINDOW, (i) => c.publishAsync(`bench/${i % 16}`, PAYLOAD, { qos: 1 }));
  await c.endAsync();
  await new Promise<void>((r) => server.close(() => r()));
  await new Promise<void>((r) => broker.close(() => r()));
  return perSec;
}

/** The gateway's message API, as an adapter would publish: auth, ACL, ingress hooks, broker. */
async function gatewayPath(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-'));
  const config = validateConfig(buildSchema([]), { gateway: { data_dir: dir }, broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, log: { level: 'silent' }, http: { enabled: false } }, 'bench');
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: 'silent', format: 'json' }) });
  await gw.start();
  const device = { protocol: 'bench', id: 'dev1', address: '127.0.0.1:1' };
  const { AdapterMessageApi } = await import('../../gateway/app/message-api.ts');
  const api = new AdapterMessageApi({ broker: gw.broker, maxPacketSize: config.broker.max_packet_size, auth: gw.auth, registry: gw.registry, sys: gw.sys, metrics: gw.metrics }, () => {});
  const perSec = await rate(COUNT, WINDOW, (i) => api.publish({ topic: `bench/${i % 16}`, payload: PAYLOAD, qos: 1, device }));
  await gw.stop();
  rmSync(dir, { recursive: true, force: true });
  return perSec;
}

export const scenario: Scenario = {
  name: 'broker-ingest',
  description: `${COUNT} QoS 1 100-byte publishes: gateway message API vs bare aedes over TCP`,
  async run(): Promise<Result[]> {
    const baseline = await bareAedes();
    const value = await gatewayPath();
    return [withRatio({ scenario: 'broker-ingest', metric: 'msgs_per_sec', value, unit: 'msg/s', baseline })];
  },
};
