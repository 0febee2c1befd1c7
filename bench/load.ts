import mqtt, { type MqttClient } from 'mqtt';

/**
 * An MQTT.js client in the bench process, for plumbing (watching $SYS) and the older scenarios'
 * load; scenarios that compare servers take their load from the generator in its own process
 * (bench/loadgen.ts).
 */
export async function mqttClient(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
  });
  return c;
}
