import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../gateway/bridge/test/mosquitto.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, publishPacket } from '../../gateway/test/raw-mqtt.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { PI_NODE_ARGS, rssOf, until } from './bridge-process.ts';

// Issue 17 item 2: SESSIONS (default 4,000) persistent sessions subscribe to flood/# and go
// offline; MESSAGES (default 300) QoS 1 100-byte messages then queue SESSIONS x MESSAGES copies
// (1.2 M). Before the bounds this ended in "JavaScript heap out of memory" under the unit's
// --max-old-space-size=160. The gateway runs as a child with the unit's flags and default
// broker bounds; reported: whether it still serves (a fresh publish/subscribe round trip), its
// peak RSS against the same process idle before the attack, and what the bounds dropped.

const SESSIONS = Number(process.env.BENCH_SESSIONS ?? 4000);
const MESSAGES = Number(process.env.BENCH_SESSION_MESSAGES ?? 300);
/** broker.persistence of the child: disk (the default) or memory, to compare what the journal costs. */
const PERSISTENCE = process.env.BENCH_PERSISTENCE === 'memory' ? 'memory' : 'disk';

async function inBatches(n: number, size: number, f: (i: number) => Promise<void>): Promise<void> {
  for (let i = 0; i < n; i += size) await Promise.all(Array.from({ length: Math.min(size, n - i) }, (_, k) => f(i + k)));
}

export const scenario: Scenario = {
  name: 'session-flood',
  description: `${SESSIONS} offline persistent sessions x ${MESSAGES} QoS 1 messages against a gateway child under the unit's heap flags (broker.persistence ${PERSISTENCE}; BENCH_PERSISTENCE=memory to compare): still serving, peak RSS vs idle`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-sessions-'));
    const port = await freePort();
    const config = join(dir, 'fieldgate.yaml');
    writeFileSync(config, [`gateway: { data_dir: ${join(dir, 'data')} }`, 'log: { level: warn, format: json }', 'http: { enabled: false }', `broker: { persistence: ${PERSISTENCE}, listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }`, ''].join('\n'));
    // Through tsx, not the release bundle: the attack is on the broker, not on the bundling.
    const cli = fileURLToPath(new URL('../../gateway/cli/main.ts', import.meta.url));
    const child = spawn(process.execPath, [...PI_NODE_ARGS, '--import', 'tsx', cli, 'start', '--config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
    let exited: string | undefined;
    child.on('exit', (code, sig) => (exited = `exit ${code ?? sig}`));
    let peak = 0;
    const sampler = setInterval(() => {
      if (!exited) peak = Math.max(peak, rssOf(child.pid!));
    }, 100);
    try {
      const start = Date.now();
      for (;;) {
        if (exited) throw new Error(`gateway ${exited}`);
        const ok = await RawClient.connect(port, { clientId: 'probe' }).then((r) => (r.client.end(), true), () => false);
        if (ok) break;
        if (Date.now() - start > 60_000) throw new Error('gateway did not start');
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1000));
      const idle = rssOf(child.pid!);
      peak = 0;
      let refused = 0;
      await inBatches(SESSIONS, 50, async (i) => {
        const { client, code } = await RawClient.connect(port, { clientId: `sess-${i}`, clean: false });
        if (code !== 0) {
          refused++;
          client.destroy();
          return;
        }
        await client.subscribe(1, [['flood/#', 1]]);
        client.end();
      });
      const pub = await RawClient.connect(port, { clientId: 'flood-pub' });
      const payload = Buffer.alloc(100, 0x61);
      for (let i = 1; i <= MESSAGES; i++) {
        pub.client.send(publishPacket('flood/x', payload, 1, i));
        await pub.client.next(PUBACK, 120_000);
      }
      pub.client.end();
      // Still serving: a new client's message reaches a new subscriber.
      const sub = await RawClient.connect(port, { clientId: 'after-sub' });
      await sub.client.subscribe(1, [['after/t', 0]]);
      const p2 = await RawClient.connect(port, { clientId: 'after-pub' });
      p2.client.send(publishPacket('after/t', 'alive', 0));
      const got = parsePublish(await sub.client.next(PUBLISH, 30_000));
      if (got.payload.toString() !== 'alive') throw new Error('the gateway stopped serving');
      sub.client.end();
      p2.client.end();
      await until(() => !exited, 'the gateway still running', 1000);
      const s = 'session-flood';
      return [
        { scenario: s, metric: 'still_serving', value: exited ? 0 : 1, unit: 'bool' },
        { scenario: s, metric: 'sessions_refused_by_max_sessions', value: refused, unit: 'sessions', baseline: SESSIONS, means: 'persistent sessions the broker refused at max_sessions / sessions the attack tried to create' },
        withRatio({ scenario: s, metric: 'gateway_rss_peak_mb', value: Math.max(peak, rssOf(child.pid!)), unit: 'MB', baseline: idle, means: 'gateway peak RSS during the queued-message flood / the same process idle before it; the bounds should keep it small' }),
      ];
    } finally {
      clearInterval(sampler);
      if (!exited) child.kill('SIGTERM');
      await new Promise((r) => (exited ? r(undefined) : child.once('exit', r)));
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
