// Not a scenario: the gateway process the tcp-* scenarios measure. It runs in a child process so its
// RSS is the gateway's alone (the load generator's 10,000 sockets would otherwise be counted too)
// and so load generator and gateway do not share one event loop. Importing this module does nothing
// unless FIELDGATE_TCP_BENCH_CHILD=1; the bench harness ignores it because it exports no scenario.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startInProcessGateway } from '../in-process-gateway.ts';

const here = fileURLToPath(import.meta.url);
const repo = resolve(dirname(here), '..', '..');

type Request = { id: number; cmd: 'mem' } | { id: number; cmd: 'metrics' } | { id: number; cmd: 'waitReceived'; count: number } | { id: number; cmd: 'stop' };

async function child(): Promise<void> {
  const { tcpAdapter } = await import('../../adapters/tcp/index.ts');
  const { gw, stop: stopGateway } = await startInProcessGateway(tcpAdapter, { idle_timeout: '60s', max_connections: 1_000_000 });
  const gc = (globalThis as { gc?: () => void }).gc;
  const metrics = () => gw.metrics.snapshot();
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (req: Request) => {
    if (req.cmd === 'mem') {
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      send({ id: req.id, rss: m.rss, heapUsed: m.heapUsed, connections: metrics()['adapters/tcp/connections/count'] ?? 0, mqtt: metrics()['connections/count'] ?? 0 });
    } else if (req.cmd === 'metrics') {
      send({ id: req.id, metrics: metrics() });
    } else if (req.cmd === 'waitReceived') {
      const poll = () => ((metrics()['messages/received'] ?? 0) >= req.count ? send({ id: req.id }) : setTimeout(poll, 5));
      poll();
    } else if (req.cmd === 'stop') {
      void stopGateway().then(() => {
        send({ id: req.id });
        process.exit(0);
      });
    }
  });
  send({ ready: true, mqttPort: gw.broker.ports.tcp, tcpPort: gw.adapterPorts('tcp').tcp });
}

export interface BenchGateway {
  mqttPort: number;
  tcpPort: number;
  proc: ChildProcess;
  mem(): Promise<{ rss: number; heapUsed: number; connections: number; mqtt: number }>;
  metrics(): Promise<Record<string, number>>;
  /** Resolves when the broker's `messages/received` reaches `count`. */
  waitReceived(count: number): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a gateway with the tcp adapter in a child process (with --expose-gc for steady RSS readings). */
export async function spawnBenchGateway(): Promise<BenchGateway> {
  const proc = fork(here, [], {
    cwd: repo,
    execArgv: ['--expose-gc', '--import', 'tsx'],
    env: { ...process.env, FIELDGATE_TCP_BENCH_CHILD: '1' },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const ready = await new Promise<{ mqttPort: number; tcpPort: number }>((res, rej) => {
    proc.once('error', rej);
    proc.once('exit', (code) => rej(new Error(`bench gateway exited with ${code} before it was ready`)));
    proc.once('message', (m) => res(m as { mqttPort: number; tcpPort: number }));
  });
  proc.removeAllListeners('exit');
  let next = 1;
  const waiting = new Map<number, (m: never) => void>();
  proc.on('message', (m: { id?: number }) => {
    if (m.id === undefined) return;
    waiting.get(m.id)?.(m as never);
    waiting.delete(m.id);
  });
  const ask = <T>(req: Record<string, unknown>): Promise<T> =>
    new Promise<T>((res) => {
      const id = next++;
      waiting.set(id, res as (m: never) => void);
      proc.send({ ...req, id });
    });
  return {
    ...ready,
    proc,
    mem: () => ask({ cmd: 'mem' }),
    metrics: async () => (await ask<{ metrics: Record<string, number> }>({ cmd: 'metrics' })).metrics,
    waitReceived: async (count) => {
      await ask({ cmd: 'waitReceived', count });
    },
    stop: async () => {
      const exited = new Promise<void>((r) => proc.once('exit', () => r()));
      await ask({ cmd: 'stop' });
      await exited;
    },
  };
}

if (process.env.FIELDGATE_TCP_BENCH_CHILD === '1' && process.argv[1] && resolve(process.argv[1]) === here) {
  await child();
}
