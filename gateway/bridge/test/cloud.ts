import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

export interface CloudMessage {
  topic: string;
  payload: string;
  id?: string;
}

/**
 * A subscriber on the "cloud" broker that collects from the first packet on: the listener is
 * attached before the connection, because a persistent session's queued messages arrive in the
 * same read as the CONNACK.
 */
export class CloudSubscriber {
  readonly got: CloudMessage[] = [];
  private constructor(readonly client: MqttClient) {}

  static async connect(url: string, filter: string | undefined, opts: IClientOptions = {}): Promise<CloudSubscriber> {
    const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5, ...opts });
    const sub = new CloudSubscriber(client);
    client.on('message', (topic, payload, packet) => {
      const id = packet.properties?.userProperties?.['fg-id'];
      sub.got.push({ topic, payload: payload.toString(), id: Array.isArray(id) ? id[0] : id });
    });
    client.on('error', () => {});
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    if (filter) await client.subscribeAsync(filter, { qos: 1 });
    return sub;
  }

  /** A persistent session (MQTT 5 session expiry) so messages queue at the broker while we are away. */
  static persistent(url: string, clientId: string, filter?: string): Promise<CloudSubscriber> {
    return CloudSubscriber.connect(url, filter, { clientId, clean: false, properties: { sessionExpiryInterval: 3600 } });
  }

  async waitFor(count: number, timeoutMs = 15_000): Promise<CloudMessage[]> {
    const start = Date.now();
    while (this.got.length < count) {
      if (Date.now() - start > timeoutMs) throw new Error(`cloud got ${this.got.length} of ${count} messages; last: ${JSON.stringify(this.got.slice(-3))}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.got;
  }

  end(): Promise<void> {
    return new Promise((resolve) => this.client.end(false, {}, () => resolve()));
  }
}

/** Fails with the topics whose payload sequence is not increasing (messages carry "topic-index"). */
export function assertOrderedPerTopic(msgs: CloudMessage[]): void {
  const last = new Map<string, number>();
  for (const m of msgs) {
    const n = Number(m.payload.split(':')[1]);
    const prev = last.get(m.topic) ?? -1;
    if (n <= prev) throw new Error(`out of order on ${m.topic}: ${n} after ${prev}`);
    last.set(m.topic, n);
  }
}
