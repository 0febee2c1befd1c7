import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { encodeConnect, encodeData } from '../../adapters/tcp/codec.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { spawnBenchGateway, type BenchGateway } from './tcp-bench-gateway.ts';

// Uplink throughput from D devices into one gateway (a child process), four ways, same run:
//   v1 (fire and forget)        vs  MQTT QoS 0 publishes to the internal broker
//   v2 QoS 1 (ACK when accepted) vs  MQTT QoS 1 publishes (PUBACK when accepted)
// Every frame is encoded before the clock starts and written on raw sockets, so the load
// generator's cost is the same for both protocols and the numbers compare the gateway's paths.
// QoS 0 paths finish when the broker has counted every message; QoS 1 paths when every ACK is back.

const DEVICES = Number(process.env.BENCH_TCP_UPLINK_DEVICES ?? 100);
const PER_DEVICE = Number(process.env.BENCH_TCP_UPLINK_MSGS ?? 1000);
/** Each path runs this many times, interleaved with the others; the median is reported (this box is noisy). */
const REPEAT = Number(process.env.BENCH_TCP_UPLINK_REPEAT ?? 3);
const WINDOW = 16;
const PAYLOAD = Buffer.alloc(100, 0x61);

interface Path {
  name: string;
  port(g: BenchGateway): number;
  hello(d: number): Buffer;
  helloAck: number;
  frame(d: number, i: number): Buffer;
  /** Bytes of one acknowledgement; 0 = QoS 0 (no acknowledgement). */
  ackLen: number;
}

function mqttConnect(d: number): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `bench-${d}`, keepalive: 120 });
}

const paths: Record<string, Path> = {
  v1: { name: 'v1', port: (g) => g.tcpPort, hello: (d) => encodeConnect({ keepalive: 120, clientid: `bench-${d}` }), helloAck: 23, frame: () => encodeData(PAYLOAD), ackLen: 0 },
  mqtt0: {
    name: 'mqtt_qos0',
    port: (g) => g.mqttPort,
    hello: mqttConnect,
    helloAck: 4,
    frame: (d) => mqttPacket.generate({ cmd: 'publish', topic: `tcp/bench-${d}/up`, payload: PAYLOAD, qos: 0, retain: false, dup: false }),
    ackLen: 0,
  },
  v2: { name: 'v2', port: (g) => g.tcpPort, hello: (d) => encodeConnect({ version: 2, keepalive: 120, clientid: `bench-${d}` }), helloAck: 24, frame: (_d, i) => encodeData(PAYLOAD, { id: (i % 65535) + 1 }), ackLen: 5 },
  mqtt1: {
    name: 'mqtt_qos1',
    port: (g) => g.mqttPort,
    hello: mqttConnect,
    helloAck: 4,
    frame: (d, i) => mqttPacket.generate({ cmd: 'publish', topic: `tcp/bench-${d}/up`, payload: PAYLOAD, qos: 1, messageId: (i % 65535) + 1, retain: false, dup: false }),
    ackLen: 4,
  },
};

function open(port: number, hello: Buffer, ackLen: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: '127.0.0.1', port });
    s.setNoDelay(true);
    let got = 0;
    const onData = (b: Buffer) => {
      got += b.length;
      if (got >= ackLen) {
        s.off('data', onData);
        resolve(s);
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.on('connect', () => s.write(hello));
  });
}

/** One device's load: QoS 0 written in batches with backpressure; QoS 1 kept at WINDOW in flight. */
function drive(s: Socket, frames: Buffer[], ackLen: number): Promise<void> {
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    if (ackLen === 0) {
      let i = 0;
      const writeSome = () => {
        while (i < frames.length) {
          const batch = Buffer.concat(frames.slice(i, i + 64));
          i += 64;
          if (!s.write(batch)) return void s.once('drain', writeSome);
        }
        resolve();
      };
      writeSome();
      return;
    }
    let sent = 0;
    let ackBytes = 0;
    const fill = () => {
      while (sent < frames.length && sent - Math.floor(ackBytes / ackLen) < WINDOW) s.write(frames[sent++]!);
    };
    s.on('data', (b: Buffer) => {
      ackBytes += b.length;
      if (ackBytes >= frames.length * ackLen) resolve();
      else fill();
    });
    fill();
  });
}

async function run(g: BenchGateway, p: Path, perDevice: number): Promise<number> {
  const sockets = await Promise.all(Array.from({ length: DEVICES }, (_, d) => open(p.port(g), p.hello(d), p.helloAck)));
  const frames = sockets.map((_, d) => Array.from({ length: perDevice }, (_x, i) => p.frame(d, i)));
  const base = (await g.metrics())['messages/received'] ?? 0;
  const start = process.hrtime.bigint();
  await Promise.all(sockets.map((s, d) => drive(s, frames[d]!, p.ackLen)));
  await g.waitReceived(base + DEVICES * perDevice);
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  for (const s of sockets) s.destroy();
  return Math.round((DEVICES * perDevice) / secs);
}

export const scenario: Scenario = {
  name: 'tcp-uplink',
  description: `${DEVICES} devices x ${PER_DEVICE} 100-byte uplinks, median of ${REPEAT}: TCP v1 vs MQTT QoS 0, TCP v2 QoS 1 vs MQTT QoS 1 (window ${WINDOW})`,
  async run(): Promise<Result[]> {
    const g = await spawnBenchGateway();
    try {
      // Warm the JIT on every path, so the first measured path is not the slow one.
      for (const p of Object.values(paths)) await run(g, p, Math.max(10, Math.round(PER_DEVICE / 10)));
      const samples: Record<string, number[]> = {};
      for (let r = 0; r < REPEAT; r++) {
        for (const [k, p] of Object.entries(paths)) (samples[k] ??= []).push(await run(g, p, PER_DEVICE));
      }
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      const rate = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
      process.stderr.write(`bench: tcp-uplink samples (msg/s): ${JSON.stringify(samples)}\n`);
      return [
        withRatio({ scenario: 'tcp-uplink', metric: 'v1_msgs_per_sec', value: rate.v1!, unit: 'msg/s', baseline: rate.mqtt0, means: 'TCP adapter v1 (fire and forget) msg/s / MQTT QoS 0 publishes into the same gateway, medians of interleaved repeats, frames pre-encoded; higher is better' }),
        withRatio({ scenario: 'tcp-uplink', metric: 'v2_qos1_msgs_per_sec', value: rate.v2!, unit: 'msg/s', baseline: rate.mqtt1, means: 'TCP adapter v2 QoS 1 (ACK once accepted) msg/s / MQTT QoS 1 publishes (PUBACK once accepted) into the same gateway; higher is better' }),
      ];
    } finally {
      await g.stop();
    }
  },
};
