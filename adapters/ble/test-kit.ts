import type { MqttClient } from 'mqtt';
import { connect, startGateway, until, type TestGateway } from '../../gateway/test/helpers.ts';
import { SimBindings } from '../../firmware-sim/ble/bindings.ts';
import { bleAdapterDefinition } from './index.ts';
import { nobleWithBindings, type NobleLike } from './radio.ts';

// A gateway whose BLE adapter talks to a simulated controller (firmware-sim/ble) through noble's
// with-bindings seam, and an MQTT client that records what the gateway publishes.

export interface BleRig {
  gw: TestGateway;
  sim: SimBindings;
  /** Every noble instance the adapter asked for, oldest first (weakly: a released one can be collected). */
  nobles: WeakRef<NobleLike>[];
  client: MqttClient;
  got: { topic: string; body: Record<string, unknown> }[];
  /** Resolves once a message on a topic matching `re` has arrived (count of them >= n). */
  waitFor(re: RegExp, n?: number): Promise<{ topic: string; body: Record<string, unknown> }[]>;
  stop(): Promise<void>;
}

export async function bleRig(ble: Record<string, unknown>, opts: { subscribe?: string[]; sim?: SimBindings; supervisor?: Parameters<typeof startGateway>[2] } = {}): Promise<BleRig> {
  const sim = opts.sim ?? new SimBindings();
  // A new noble per adapter start or renewal, as with the real radio; the adapter stops each one.
  const nobles: WeakRef<NobleLike>[] = [];
  const def = bleAdapterDefinition({
    noble: () => {
      const noble = nobleWithBindings(sim);
      nobles.push(new WeakRef(noble));
      return noble;
    },
  });
  // BLE devices have no IP address, so the loopback default does not cover them: the rule docs/ble.md
  // asks for lets each device publish under its own id only.
  const auth = { acl: [{ permission: 'allow', action: 'publish', topics: ['ble/%c/#'] }] };
  const gw = await startGateway({ auth, adapters: { ble: { enabled: true, radio_timeout: '5s', ...ble } } }, [def], opts.supervisor);
  const client = await connect(gw.url);
  const got: BleRig['got'] = [];
  client.on('message', (topic, payload) => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      body = { raw: payload.toString() };
    }
    got.push({ topic, body });
  });
  await client.subscribeAsync(opts.subscribe ?? ['ble/#'], { qos: 1 });
  const waitFor = async (re: RegExp, n = 1) => {
    await until(() => got.filter((m) => re.test(m.topic)).length >= n, `${n} message(s) on ${re}: got ${JSON.stringify(got.map((m) => m.topic))}`);
    return got.filter((m) => re.test(m.topic));
  };
  return {
    gw, sim, nobles, client, got, waitFor,
    stop: async () => {
      await client.endAsync();
      await gw.stop();
    },
  };
}

/** Waits until the adapter has started scanning (the simulated controller was asked to). */
export async function scanning(sim: SimBindings, times = 1): Promise<void> {
  await until(() => sim.calls.filter((c) => c.method === 'startScanning').length >= times && sim.scanning, `startScanning x${times}`);
}
