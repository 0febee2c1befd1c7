import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import type { ComponentDefinition } from '../app/component.ts';
import { buildSchema } from '../app/config.ts';
import { Gateway, type GatewayOptions } from '../app/gateway.ts';
import type { SupervisorOptions } from '../app/supervisor.ts';
import { validateConfig } from '../config/load.ts';
import type { AdapterDefinition } from '../core/adapter.ts';
import { createLogger } from '../log/logger.ts';

export function tempDir(prefix = 'fieldgate-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export interface TestGateway {
  gw: Gateway;
  port: number;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

type Doc = Record<string, unknown>;

function merge(a: Doc, b: Doc): Doc {
  const out: Doc = { ...a };
  for (const [k, v] of Object.entries(b)) {
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && typeof a[k] === 'object' ? merge(a[k] as Doc, v as Doc) : v;
  }
  return out;
}

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/**
 * A real gateway on 127.0.0.1 with an OS-chosen port and its own data directory. With `lines`, its
 * JSON log lines (info and up) land there, for tests of what an operator reads. `now`: the login
 * backoff's clock (GatewayOptions.now), for tests that move it instead of waiting.
 */
export async function startGateway(doc: Doc = {}, adapters: AdapterDefinition[] = [], supervisor?: Partial<SupervisorOptions>, components?: ComponentDefinition[], lines?: LogLine[], now?: GatewayOptions['now']): Promise<TestGateway> {
  const dir = tempDir();
  const base: Doc = { gateway: { data_dir: dir.path }, broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, log: { level: lines ? 'info' : (process.env.FIELDGATE_TEST_LOG ?? 'silent') }, http: { enabled: false } };
  const config = validateConfig(buildSchema(adapters), merge(base, doc), 'test');
  const destination = lines ? new Writable({ write: (chunk: Buffer, _enc, cb) => (lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l) as LogLine)), cb()) }) : process.stderr;
  const gw = new Gateway({ config, adapters, components, log: createLogger({ level: config.log.level as 'info', format: 'json', destination }), supervisor, now });
  await gw.start();
  const port = gw.broker.ports.tcp;
  return {
    gw,
    port: port!,
    url: `mqtt://127.0.0.1:${port}`,
    dataDir: dir.path,
    stop: async () => {
      await gw.stop();
      dir.remove();
    },
  };
}

export async function connect(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  await new Promise<void>((resolve, reject) => {
    c.once('connect', () => resolve());
    c.once('error', reject);
    c.once('close', () => reject(new Error('connection closed before CONNACK')));
  });
  c.removeAllListeners('error');
  c.on('error', () => {});
  return c;
}

/** Resolves with the first CONNACK error (e.g. bad credentials). */
export function connectError(url: string, opts: IClientOptions = {}): Promise<Error & { code?: number }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...opts });
  return new Promise((resolve, reject) => {
    c.once('connect', () => {
      c.end(true);
      reject(new Error('unexpectedly connected'));
    });
    c.once('error', (err) => {
      c.end(true);
      resolve(err as Error & { code?: number });
    });
  });
}

/** Collects messages on a client until `count` have arrived. */
export function collect(c: MqttClient, count: number, timeoutMs = 10_000): Promise<{ topic: string; payload: string }[]> {
  const got: { topic: string; payload: string }[] = [];
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`got ${got.length} of ${count} messages: ${JSON.stringify(got.slice(0, 5))}`)), timeoutMs);
    c.on('message', (topic, payload) => {
      got.push({ topic, payload: payload.toString() });
      if (got.length === count) {
        clearTimeout(t);
        resolve(got);
      }
    });
  });
}

export function endClient(c: MqttClient): Promise<void> {
  return new Promise((resolve) => c.end(false, {}, () => resolve()));
}

export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!(await cond())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The SUBACK return codes as sent on the wire (MQTT.js rewrites 0x80 entries in its callback). */
export function subackCodes(c: MqttClient, topics: string[]): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (p: Packet) => {
      if (p.cmd !== 'suback') return;
      c.off('packetreceive', onPacket);
      resolve(p.granted as number[]);
    };
    c.on('packetreceive', onPacket);
    c.subscribe(topics, () => {});
  });
}
