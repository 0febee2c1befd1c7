import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSchema } from '../../gateway/app/config.ts';
import { Gateway } from '../../gateway/app/gateway.ts';
import { Mosquitto } from '../../gateway/bridge/test/mosquitto.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { mqttClient, rssMb } from '../load.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';

// Durable uplink: local MQTT publishers (QoS 1, 100-byte payloads) -> gateway -> bridge log
// (fsync group commit) -> Mosquitto, against the same path with the queue in memory. Throughput
// counts a message when Mosquitto has PUBACKed it to the bridge.

const COUNT = Number(process.env.BENCH_BRIDGE_DURABLE_COUNT ?? 200_000);
const PUBLISHERS = 4;
const WINDOW = 256;
const PAYLOAD = Buffer.alloc(100, 0x61);

interface Run {
  perSec: number;
  syncs: number;
  bytesWritten: number;
  rss: number;
}

async function run(storage: 'disk' | 'memory', cloudUrl: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-bridge-'));
  const config = validateConfig(
    buildSchema([]),
    {
      gateway: { data_dir: dir },
      broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
      log: { level: 'silent' },
      bridge: { queue: { storage }, upstreams: [{ name: 'cloud', servers: [cloudUrl], inflight: 256, status: false }] },
    },
    'bench',
  );
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: 'silent', format: 'json' }) });
  await gw.start();
  const metric = (n: string) => gw.metrics.snapshot()[n] ?? 0;
  try {
    while (!gw.bridge!.health()[0].connected) await new Promise((r) => setTimeout(r, 10));
    const url = `mqtt://127.0.0.1:${gw.broker.ports.tcp}`;
    const clients = await Promise.all(Array.from({ length: PUBLISHERS }, (_, i) => mqttClient(url, { clientId: `bench-pub-${i}` })));
    const start = process.hrtime.bigint();
    let next = 0;
    let rss = 0;
    const worker = async (c: (typeof clients)[number]) => {
      while (next < COUNT) {
        const i = next++;
        await c.publishAsync(`bench/dev${i % 64}`, PAYLOAD, { qos: 1 });
        if (i % 10_000 === 0) rss = Math.max(rss, rssMb());
      }
    };
    await Promise.all(clients.flatMap((c) => Array.from({ length: WINDOW / PUBLISHERS }, () => worker(c))));
    while (metric('bridge/forwarded') < COUNT) await new Promise((r) => setTimeout(r, 5));
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    await Promise.all(clients.map((c) => c.endAsync()));
    return { perSec: Math.round(COUNT / secs), syncs: metric('bridge/log/syncs'), bytesWritten: metric('bridge/log/bytes_written'), rss: Math.max(rss, rssMb()) };
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  name: 'bridge-durable',
  description: `${COUNT} QoS 1 100-byte messages, local MQTT -> fsynced bridge log -> Mosquitto, vs the queue in memory`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-cloud-'));
    const cloud = await Mosquitto.create(dir);
    await cloud.start();
    try {
      const memory = await run('memory', cloud.url);
      const durable = await run('disk', cloud.url);
      const s = 'bridge-durable';
      return [
        withRatio({ scenario: s, metric: 'durable_msgs_per_sec', value: durable.perSec, unit: 'msg/s', baseline: memory.perSec }),
        { scenario: s, metric: 'memory_msgs_per_sec', value: memory.perSec, unit: 'msg/s' },
        { scenario: s, metric: 'fsyncs_per_1000_msgs', value: Math.round((durable.syncs / COUNT) * 1000 * 100) / 100, unit: 'fsync' },
        { scenario: s, metric: 'log_bytes_per_msg', value: Math.round((durable.bytesWritten / COUNT) * 10) / 10, unit: 'B' },
        withRatio({ scenario: s, metric: 'rss_max_durable', value: durable.rss, unit: 'MB', baseline: memory.rss }),
      ];
    } finally {
      await cloud.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
