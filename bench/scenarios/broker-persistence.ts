import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Result, Scenario } from '../result.ts';
import { alternate, pick, row } from '../rounds.ts';

// Issue 17 item 12: what keeping persistent sessions on disk costs a QoS 1 message. A gateway in
// this process (adapters, HTTP API and bridge off) with one persistent subscriber (clean session
// 0, QoS 1 on bench/#), online, and one publisher sending QoS 1 messages (100-byte payloads): each
// message is queued for the session, so with broker.persistence disk it is journaled and fsync'd
// before its PUBACK, then given its packet id and cleared by the subscriber's PUBACK. Baseline: the
// same with broker.persistence memory. Rounds alternated; with 1 message in flight the figure is
// the time per message (the fsync's latency), with 32 in flight the rate (fsyncs shared).

const ROUNDS = pick(2, 5);
const COUNT = pick(1500, 10_000);
const CASES = [1, 32];

type Mode = 'disk' | 'memory';

/** Messages per second, and the journal bytes written per message (disk). */
async function once(mode: Mode, inflight: number): Promise<{ rate: number; bytesPerMessage: number }> {
  const { buildSchema } = await import('../../gateway/app/config.ts');
  const { Gateway } = await import('../../gateway/app/gateway.ts');
  const { validateConfig } = await import('../../gateway/config/load.ts');
  const { createLogger } = await import('../../gateway/log/logger.ts');
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-persist-'));
  const doc = { gateway: { data_dir: dir }, broker: { persistence: mode, listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, log: { level: 'silent' }, http: { enabled: false } };
  const gw = new Gateway({ config: validateConfig(buildSchema([]), doc, 'bench'), adapters: [], log: createLogger({ level: 'silent', format: 'json' }) });
  await gw.start();
  const url = `mqtt://127.0.0.1:${gw.broker.ports.tcp}`;
  try {
    const sub = await mqtt.connectAsync(url, { clientId: 'bench-sub', clean: false, reconnectPeriod: 0 });
    await sub.subscribeAsync('bench/#', { qos: 1 });
    let got = 0;
    let allIn!: () => void;
    const received = new Promise<void>((r) => (allIn = r));
    sub.on('message', () => {
      if (++got === COUNT) allIn();
    });
    const pub = await mqtt.connectAsync(url, { clientId: 'bench-pub', reconnectPeriod: 0 });
    const payload = Buffer.alloc(100, 0x61);
    const t0 = process.hrtime.bigint();
    let sent = 0;
    await new Promise<void>((resolve, reject) => {
      let acked = 0;
      const one = () => {
        if (sent >= COUNT) return;
        sent++;
        pub.publish(`bench/${sent % 8}`, payload, { qos: 1 }, (err) => {
          if (err) return reject(err);
          if (++acked === COUNT) resolve();
          else one();
        });
      };
      for (let k = 0; k < inflight; k++) one();
    });
    await received;
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    await pub.endAsync();
    await sub.endAsync();
    await gw.stop();
    // Below the compaction threshold the journals hold every byte the run wrote.
    const broker = join(dir, 'broker');
    const bytes = mode === 'disk' ? readdirSync(broker).filter((f) => f.startsWith('journal.')).reduce((n, f) => n + statSync(join(broker, f)).size, 0) : 0;
    return { rate: COUNT / seconds, bytesPerMessage: bytes / COUNT };
  } finally {
    await gw.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export const scenario: Scenario = {
  name: 'broker-persistence',
  description: `QoS 1 to an online persistent session, ${COUNT} messages, 1 and 32 in flight, ${ROUNDS} alternated rounds: broker.persistence disk vs memory, gateway in process`,
  async run(): Promise<Result[]> {
    const out: Result[] = [];
    const sc = 'broker-persistence';
    for (const inflight of CASES) {
      const runs = await alternate(ROUNDS, ['disk', 'memory'] as const, (mode) => once(mode, inflight));
      const disk = runs.get('disk')!.map((r) => r.rate);
      const memory = runs.get('memory')!.map((r) => r.rate);
      out.push(row(sc, `qos1_inflight${inflight}_journal_bytes_per_message`, 'B', runs.get('disk')!.map((r) => r.bytesPerMessage)));
      if (inflight === 1) {
        const ms = (xs: number[]) => xs.map((r) => 1000 / r);
        out.push(row(sc, 'qos1_inflight1_ms_per_message_disk', 'ms', ms(disk), { xs: ms(memory), means: 'ms per QoS 1 message with persistence disk / with memory (1 in flight: publish, fsync, PUBACK, delivery); lower is better' }));
        out.push(row(sc, 'qos1_inflight1_ms_per_message_memory', 'ms', ms(memory)));
      } else {
        out.push(row(sc, `qos1_inflight${inflight}_disk`, 'msg/s', disk, { xs: memory, means: `msg/s with persistence disk / with memory (${inflight} in flight, fsyncs shared); higher is better` }));
        out.push(row(sc, `qos1_inflight${inflight}_memory`, 'msg/s', memory));
      }
    }
    return out;
  },
};
