import { connect as netConnect, type Socket } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { encodeConnect } from '../../adapters/tcp/codec.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { spawnBenchGateway, type BenchGateway } from './tcp-bench-gateway.ts';

// N idle devices held open against a gateway in a child process: the gateway's RSS growth per
// connection, for the TCP adapter (v1 CONNECT, keepalive 120 s, dn_topic subscribed) and, as the
// same-run baseline, for plain MQTT 3.1.1 clients on the internal broker. The target is
// under 20 KB per TCP connection. Each process needs N file descriptors: raise `ulimit -n` for
// 10,000; when the OS refuses sockets (EMFILE) the scenario reports how many it reached.

const N = Number(process.env.BENCH_TCP_IDLE_CONNS ?? 10_000);
const PARALLEL = 200;

/** Opens up to `n` connections, each sending `hello` and waiting for `ackLen` bytes. */
async function holdOpen(port: number, n: number, hello: (i: number) => Buffer, ackLen: number): Promise<{ sockets: Socket[]; error?: string }> {
  const sockets: Socket[] = [];
  let next = 0;
  let error: string | undefined;
  const one = (i: number) =>
    new Promise<void>((resolve, reject) => {
      const s = netConnect({ host: '127.0.0.1', port });
      let got = 0;
      s.on('error', (err: NodeJS.ErrnoException) => reject(new Error(err.code ?? err.message)));
      s.on('connect', () => s.write(hello(i)));
      s.on('data', (b: Buffer) => {
        got += b.length;
        if (got >= ackLen) {
          s.removeAllListeners('data');
          s.on('data', () => {});
          sockets.push(s);
          resolve();
        }
      });
      s.on('close', () => reject(new Error(`closed by the gateway after ${got} bytes`)));
    });
  await Promise.all(
    Array.from({ length: PARALLEL }, async () => {
      while (next < n && !error) {
        try {
          await one(next++);
        } catch (err) {
          error ??= (err as Error).message;
        }
      }
    }),
  );
  return { sockets, error };
}

async function measure(label: string, n: number, hello: (i: number) => Buffer, ackLen: number, port: (g: BenchGateway) => number) {
  const g = await spawnBenchGateway();
  try {
    const before = await g.mem();
    const { sockets, error } = await holdOpen(port(g), n, hello, ackLen);
    // Let connect-time work ($SYS events, registry writes) settle before reading memory.
    await new Promise((r) => setTimeout(r, 1000));
    const after = await g.mem();
    if (error) process.stderr.write(`bench: ${label}: stopped at ${sockets.length} of ${n} connections: ${error} (raise ulimit -n?)\n`);
    for (const s of sockets) s.destroy();
    const reached = sockets.length;
    return {
      reached,
      rssKb: reached ? (after.rss - before.rss) / reached / 1024 : 0,
      heapKb: reached ? (after.heapUsed - before.heapUsed) / reached / 1024 : 0,
    };
  } finally {
    await g.stop();
  }
}

export const scenario: Scenario = {
  name: 'tcp-idle-conns',
  description: `${N} idle TCP-adapter devices vs ${N} idle MQTT clients: gateway RSS and heap per connection (target < 20 KB)`,
  async run(): Promise<Result[]> {
    const tcp = await measure('tcp', N, (i) => encodeConnect({ keepalive: 120, clientid: `idle-${i}` }), 23, (g) => g.tcpPort);
    const mqtt = await measure(
      'mqtt',
      N,
      (i) => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId: `idle-${i}`, keepalive: 120 }),
      4,
      (g) => g.mqttPort,
    );
    const round = (x: number) => Math.round(x * 100) / 100;
    if (tcp.rssKb > 20) process.stderr.write(`bench: tcp-idle-conns: ${round(tcp.rssKb)} KB per connection is over the 20 KB target\n`);
    return [
      { scenario: 'tcp-idle-conns', metric: 'tcp_connections', value: tcp.reached, unit: 'conns', baseline: mqtt.reached, means: `idle TCP-adapter connections held / plain MQTT 3.1.1 connections held on the internal broker (of ${N} tried each; fewer = the OS refused sockets)` },
      withRatio({ scenario: 'tcp-idle-conns', metric: 'rss_per_conn', value: round(tcp.rssKb), unit: 'KB', baseline: round(mqtt.rssKb), means: 'gateway RSS growth per idle TCP-adapter connection / per idle MQTT 3.1.1 connection on the internal broker, same run; lower is better; target < 20 KB' }),
      withRatio({ scenario: 'tcp-idle-conns', metric: 'heap_per_conn', value: round(tcp.heapKb), unit: 'KB', baseline: round(mqtt.heapKb), means: 'V8 heap growth per idle TCP-adapter connection / per idle MQTT connection; lower is better' }),
    ];
  },
};
