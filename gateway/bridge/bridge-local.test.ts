import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import type { Broker } from '../broker/broker.ts';
import { Ingress } from '../core/ingress.ts';
import { PublishRejected } from '../core/message.ts';
import { createLogger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { connect, endClient, startGateway, tempDir, until } from '../test/helpers.ts';
import { Bridge } from './bridge.ts';
import { bridgeSchema } from './config.ts';
import { CloudSubscriber } from './test/cloud.ts';
import { FakeCloud } from './test/fake-cloud.ts';
import { freePort } from './test/mosquitto.ts';

// The bridge against in-process or scripted peers (no Mosquitto needed): WebSocket upstream,
// PUBACK reason codes, the drop log, and the start and stop windows.

describe('bridge over WebSocket', () => {
  it('ws:// upstream (a second fieldgate as the cloud, MQTT 3.1.1 with the JSON envelope)', async () => {
    const cloudGw = await startGateway({ broker: { listeners: { ws: { enabled: true, host: '127.0.0.1', port: 0 } } } });
    const edge = await startGateway({
      bridge: { upstreams: [{ name: 'cloud', servers: [`ws://127.0.0.1:${cloudGw.gw.broker.ports.ws}/mqtt`], protocol_version: 4, message_id: 'envelope', backoff: { initial: '50ms', max: '200ms' } }] },
    });
    try {
      const sub = await CloudSubscriber.connect(cloudGw.url, 'fieldgate/+/ws/#', { protocolVersion: 4 });
      await until(() => edge.gw.bridge!.health()[0]!.connected, `bridge up over ws (${edge.gw.bridge!.lastErrors().cloud})`);
      const pub = await connect(edge.url);
      await pub.publishAsync('ws/a', 'hello', { qos: 1 });
      const [got] = await sub.waitFor(1);
      const env = JSON.parse(got!.payload) as { id: string; ts: number; topic: string; payload: string };
      assert.equal(got!.topic, 'fieldgate/fieldgate/ws/a');
      assert.equal(env.topic, 'ws/a');
      assert.equal(Buffer.from(env.payload, 'base64').toString(), 'hello');
      assert.match(env.id, /^[0-9a-f]{8}-n0$/);
      await endClient(pub);
      await sub.end();
    } finally {
      await edge.stop();
      await cloudGw.stop();
    }
  });
});

describe('bridge against a scripted cloud (PUBACK reason codes)', () => {
  it('temporary PUBACK codes are retried in order; permanent ones drop the message as failed', async () => {
    const temporary = [0x97, 0x87, 0x80, 0x83, 0x91];
    let refusedSoFar = 0;
    const cloud = await FakeCloud.start((r) => {
      if (r.payload === 'dev/a:3' && refusedSoFar < temporary.length) return temporary[refusedSoFar++]!;
      if (r.payload === 'dev/a:5') return 0x90; // topic name invalid: never accepted
      if (r.payload === 'dev/a:7') return 0x99; // payload format invalid
      return 0;
    });
    const gw = await startGateway({ bridge: { upstreams: [{ name: 'cloud', servers: [`mqtt://127.0.0.1:${cloud.port}`], status: false, inflight: 1, backoff: { initial: '20ms', max: '100ms' } }] } });
    try {
      const pub = await connect(gw.url);
      for (let i = 0; i < 10; i++) await pub.publishAsync('dev/a', `dev/a:${i}`, { qos: 1 });
      await endClient(pub);
      const m = () => gw.gw.metrics.snapshot();
      await until(() => m()['bridge/forwarded']! + m()['bridge/dropped/failed']! === 10, 'every message settled');
      assert.deepEqual(cloud.accepted.map((r) => r.payload), [0, 1, 2, 3, 4, 6, 8, 9].map((i) => `dev/a:${i}`), 'the refused message went again, in its place');
      assert.equal(m()['bridge/dropped/failed'], 2, 'only the permanent refusals are dropped');
      assert.equal(m()['bridge/refused'], temporary.length);
      assert.equal(m()['bridge/queue/messages'], 0);
    } finally {
      await gw.stop();
      await cloud.stop();
    }
  });
});

describe('bridge drop log', () => {
  it('rate-limited drop lines still write out every drop: "N more since the last line"', async () => {
    const dir = tempDir('fieldgate-bridge-droplog-');
    const lines: { msg: string; dropped?: number; more_since_last_line?: number }[] = [];
    const dest = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString().split('\n')) if (l.includes('dropped')) lines.push(JSON.parse(l));
        cb();
      },
    });
    const metrics = new Metrics();
    const ingress = new Ingress();
    const cfg = bridgeSchema.parse({ queue: { max_bytes: '64KB' }, upstreams: [{ name: 'cloud', servers: [`mqtt://127.0.0.1:${await freePort()}`] }] });
    const bridge = new Bridge(cfg, { gatewayId: 'gw', dataDir: dir.path, broker: {} as Broker, ingress, metrics, log: createLogger({ level: 'warn', format: 'json', destination: dest }) });
    try {
      await bridge.start();
      for (let i = 0; i < 2000; i++) await ingress.accept({ topic: 'dev/d', payload: Buffer.alloc(100, 0x61), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' });
      await bridge.stop();
      const dropped = metrics.snapshot()['bridge/dropped/queue_full'];
      assert.ok(dropped! > 0);
      assert.ok(lines.length >= 2, `a first line and a closing one (${lines.length})`);
      const written = lines.reduce((n, l) => n + (l.dropped ?? 0) + (l.more_since_last_line ?? 0), 0);
      assert.equal(written, dropped, 'the log lines account for every drop');
      assert.match(lines.at(-1)!.msg, /\d+ more messages since the last line/);
    } finally {
      await bridge.stop();
      dir.remove();
    }
  });
});

describe('bridge start and stop windows', () => {
  it('a publish arriving while the log is being opened waits for it; one arriving while stopping is refused', async () => {
    const dir = tempDir('fieldgate-bridge-window-');
    const ingress = new Ingress();
    const metrics = new Metrics();
    const cfg = bridgeSchema.parse({ upstreams: [{ name: 'cloud', servers: [`mqtt://127.0.0.1:${await freePort()}`] }] });
    const bridge = new Bridge(cfg, { gatewayId: 'gw', dataDir: dir.path, broker: {} as Broker, ingress, metrics, log: createLogger({ level: 'silent', format: 'json' }) });
    try {
      let acked = false;
      const early = ingress.accept({ topic: 'dev/early', payload: Buffer.from('x'), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' }).then(() => {
        acked = true;
      });
      // Let everything that could settle the publish without the log run (I/O callbacks included).
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      assert.equal(acked, false, 'not acknowledged before the log is open');
      await bridge.start();
      await early;
      assert.equal(metrics.snapshot()['bridge/queue/messages'], 1, 'and it is in the log');
      const stopping = bridge.stop();
      await assert.rejects(ingress.accept({ topic: 'dev/late', payload: Buffer.from('y'), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' }), (err: PublishRejected) => err.reason === 'unavailable');
      await stopping;
    } finally {
      await bridge.stop();
      dir.remove();
    }
  });
});
