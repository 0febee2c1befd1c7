// Shared by the modem adapter's tests and its benchmark: a real gateway with the modem adapter on
// simulated modules (socat ptys), an MQTT client on its broker, and the log lines it wrote.
import { Writable } from 'node:stream';
import type { MqttClient } from 'mqtt';
import { builtinAdapters } from '../../gateway/app/adapters.ts';
import { buildSchema } from '../../gateway/app/config.ts';
import { Gateway } from '../../gateway/app/gateway.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { connect, endClient, tempDir, until } from '../../gateway/test/helpers.ts';
import { modemAdapter } from './index.ts';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

export interface ModemTestGateway {
  gw: Gateway;
  /** The validated config the gateway runs with (fieldgate doctor's view of it). */
  config: ReturnType<typeof validateConfig>;
  mq: MqttClient;
  logs: LogLine[];
  /** Messages received by `mq`, in order. */
  got: { topic: string; body: Record<string, unknown> }[];
  metric(name: string): number;
  stop(): Promise<void>;
}

/** Fast settings for tests: short timeouts (with room for a loaded 2-core machine), a probe every 150 ms, reconnect from 50 ms. */
export const FAST = { timeouts: { command: '800ms', reboot: '1s' }, probe_interval: '150ms', reconnect: { min: '50ms', max: '400ms' } };

/** FAST plus what only LoRa modules take (an NB-IoT modem refuses LoRa-only keys). */
const fast = (m: Record<string, unknown>) => (m.type === 'bc95' || m.type === 'bg96' ? FAST : { ...FAST, timeouts: { ...FAST.timeouts, tx_margin: '300ms' } });

/**
 * `dataDir`: a gateway.data_dir that outlives this gateway (a restart test); else a temp dir removed at stop.
 * `adapters`: sections of other built-in adapters to run too (the CoAP or LwM2M engine serving an
 * NB-IoT modem's socket); every built-in adapter not named is disabled.
 */
export async function startModemGateway(modems: Record<string, unknown>[], subscribe = ['lora/#'], opts: { dataDir?: string; adapters?: Record<string, unknown>; acl?: Record<string, unknown>[]; anonymous?: 'always'; http?: Record<string, unknown> } = {}): Promise<ModemTestGateway> {
  const others = opts.adapters ? Object.fromEntries(builtinAdapters.filter((a) => a.name !== 'modem').map((a) => [a.name, { enabled: false }])) : {};
  const dir = opts.dataDir !== undefined ? { path: opts.dataDir, remove: () => {} } : tempDir();
  const logs: LogLine[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString().split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogLine);
      cb();
    },
  });
  const doc = {
    gateway: { data_dir: dir.path },
    broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
    http: opts.http ?? { enabled: false },
    log: { level: 'debug' },
    // A LoRa node has no IP address, so acl_nomatch (deny) applies: the rule docs/modem.md gives.
    // NB-IoT devices have operator addresses (not loopback): the rule docs/modem.md gives for them too.
    auth: { ...(opts.anonymous ? { allow_anonymous: opts.anonymous } : {}), acl: [{ permission: 'allow', action: 'publish', topics: ['lora/%c/up', 'lora/%c/dn/status', 'nbiot/+/%c/up', 'nbiot/%c/status'] }, ...(opts.acl ?? [])] },
    adapters: { ...others, ...opts.adapters, modem: { enabled: true, modems: modems.map((m) => ({ ...fast(m), ...m })) } },
  };
  const defs = opts.adapters ? builtinAdapters.map((a) => (a.name === 'modem' ? modemAdapter : a)) : [modemAdapter];
  const config = validateConfig(buildSchema(defs), doc, 'test');
  const gw = new Gateway({ config, adapters: defs, log: createLogger({ level: 'debug', format: 'json', destination: sink }) });
  await gw.start();
  const mq = await connect(`mqtt://127.0.0.1:${gw.broker.ports.tcp}`);
  const got: ModemTestGateway['got'] = [];
  mq.on('message', (topic, payload) => {
    let body: Record<string, unknown>;
    try {
      body = JSON.parse(payload.toString()) as Record<string, unknown>;
    } catch {
      body = { raw: payload.toString('hex') };
    }
    got.push({ topic, body });
  });
  await mq.subscribeAsync(subscribe, { qos: 1 });
  const metric = (name: string) => gw.metrics.snapshot()[`adapters/modem/${name}`] ?? 0;
  return {
    gw,
    config,
    mq,
    logs,
    got,
    metric,
    stop: async () => {
      if (process.env.MODEM_TEST_DUMP) for (const l of logs) process.stderr.write(`${JSON.stringify(l)}\n`);
      await endClient(mq);
      await gw.stop();
      dir.remove();
    },
  };
}

export async function waitReady(g: ModemTestGateway, modem: string, what = `modem ${modem} ready`): Promise<void> {
  await until(() => g.metric(`${modem}/ready`) === 1, what, 15_000);
}

export { until };
