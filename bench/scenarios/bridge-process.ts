import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { freePort } from '../../gateway/bridge/test/mosquitto.ts';
import { until } from '../../gateway/test/helpers.ts';
import { mqttClient } from '../load.ts';

// Shared by the bridge scenarios (this module exports no scenario, so bench/run.ts skips it): a
// gateway in its own process, from the release bundle when it builds (what a Pi runs), so that its
// CPU and RSS are its own and not shared with the load generator.

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * The V8 flags the systemd unit runs the gateway with (read from deploy/raspi/fieldgate.service, so
 * the bench measures what ships): a small young generation and a capped old generation keep RSS
 * under 100 MB whatever the backlog. docs/bridge.md has the measurements.
 */
export const PI_NODE_ARGS: string[] = (() => {
  const unit = readFileSync(join(ROOT, 'deploy/raspi/fieldgate.service'), 'utf8');
  const m = /^Environment="NODE_OPTIONS=([^"]*)"/m.exec(unit);
  if (!m) throw new Error('deploy/raspi/fieldgate.service sets no NODE_OPTIONS');
  return m[1]!.split(' ').filter(Boolean);
})();

export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round((Number(m[1]) / 1024) * 10) / 10 : 0;
}

let built: Promise<{ argv: string[]; kind: string }> | undefined;

/** The command that runs the gateway: the bundle (built once per bench run) or tsx. */
export function gatewayCommand(): Promise<{ argv: string[]; kind: string }> {
  built ??= (async () => {
    try {
      const { buildRelease, ARCHES } = await import('../../deploy/build.ts');
      // Its own directory: the scenario's temp dir goes away after each run, the bundle is reused.
      const out = mkdtempSync(join(tmpdir(), 'fieldgate-bench-bundle-'));
      process.on('exit', () => rmSync(out, { recursive: true, force: true }));
      // The release tree, not the bare bundle: native addons (serialport) load from its lib/native.
      const arch = (ARCHES as readonly string[]).includes(process.arch) ? (process.arch as (typeof ARCHES)[number]) : 'x64';
      const { tarballs } = await buildRelease({ out, arches: [arch], tarballs: false });
      const tree = tarballs[0]!.path;
      return { argv: [join(tree, 'lib', 'fieldgate.mjs')], kind: 'bundle' };
    } catch (err) {
      process.stderr.write(`bench: no release bundle (${(err as Error).message}); running the gateway through tsx\n`);
      return { argv: ['--import', 'tsx', join(ROOT, 'gateway/cli/main.ts')], kind: 'tsx' };
    }
  })();
  return built;
}

// The one poll-until helper; re-exported for the scenarios that still import it from here.
export { until };

export interface GatewayProcess {
  url: string;
  pid: number;
  kind: string;
  /** The gateway's metrics as it publishes them in $SYS (every 250 ms). */
  metrics: Record<string, number>;
  stop(): Promise<void>;
}

/** Starts a gateway process whose bridge section is `bridgeYaml` (lines, indented under `bridge:`). */
export async function startGatewayProcess(dir: string, bridgeYaml: string[], nodeArgs: string[] = []): Promise<GatewayProcess> {
  const port = await freePort();
  const config = join(dir, `fieldgate-${port}.yaml`);
  writeFileSync(
    config,
    [
      'gateway:',
      `  data_dir: ${join(dir, `data-${port}`)}`,
      'log: { level: warn, format: json }',
      'sys: { interval: 250ms, client_events: false }',
      'http: { enabled: false }',
      `broker: { listeners: { tcp: { host: 127.0.0.1, port: ${port} } } }`,
      'bridge:',
      ...bridgeYaml.map((l) => `  ${l}`),
      '',
    ].join('\n'),
  );
  const cmd = await gatewayCommand();
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, ...cmd.argv, 'start', '--config', config], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  const url = `mqtt://127.0.0.1:${port}`;
  const start = Date.now();
  let watcher: MqttClient | undefined;
  const metrics: Record<string, number> = {};
  try {
    while (!watcher) {
      if (child.exitCode !== null) throw new Error(`gateway exited with ${child.exitCode}`);
      watcher = await mqttClient(url, { clientId: 'bench-watch' }).catch(async () => {
        if (Date.now() - start > 30_000) throw new Error('gateway did not start');
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    watcher.on('message', (topic, payload) => {
      const i = topic.indexOf('/metrics/');
      if (i >= 0) metrics[topic.slice(i + 9)] = Number(payload.toString());
    });
    await watcher.subscribeAsync('$SYS/brokers/+/metrics/bridge/#');
    await until(() => metrics['bridge/forwarded'] !== undefined, 'first $SYS metrics', 10_000);
  } catch (err) {
    watcher?.end(true);
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    throw err;
  }
  return {
    url,
    pid: child.pid!,
    kind: cmd.kind,
    metrics,
    stop: async () => {
      await watcher!.endAsync().catch(() => {});
      if (child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
    },
  };
}

/** Publishes `count` QoS 1 messages from `publishers` clients with `window` in flight in total. */
export async function publishLoad(url: string, count: number, publishers: number, window: number, payload: Buffer): Promise<number> {
  const clients = await Promise.all(Array.from({ length: publishers }, (_, i) => mqttClient(url, { clientId: `bench-pub-${i}` })));
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async (c: MqttClient) => {
    while (next < count) {
      const i = next++;
      await c.publishAsync(`bench/dev${i % 256}`, payload, { qos: 1 });
    }
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: Math.max(1, Math.floor(window / publishers)) }, () => worker(c))));
  const secs = Number(process.hrtime.bigint() - start) / 1e9;
  await Promise.all(clients.map((c) => c.endAsync().catch(() => {})));
  return secs;
}
