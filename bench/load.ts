import mqtt, { type MqttClient } from 'mqtt';

/** Shared load-generation helpers for scenarios. */

export async function mqttClient(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}

/** Messages per second for `count` items produced by `step`, with up to `window` in flight. */
export async function rate(count: number, window: number, step: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async () => {
    while (next < count) await step(next++);
  };
  await Promise.all(Array.from({ length: window }, worker));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  return Math.round(count / secs);
}

export function rssMb(): number {
  return Math.round((process.memoryUsage().rss / 1024 / 1024) * 10) / 10;
}
