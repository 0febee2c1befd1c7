// 1,000 simulated LwM2M devices registered with the gateway's LwM2M adapter, each observed (by an
// MQTT `observe` command) on its temperature, which changes every 10 s: notifications per second
// published on MQTT vs offered by the devices in the same window, and the gateway's RSS and CPU.
// The gateway runs in its own process (bundled, with the systemd unit's V8 flags, as released);
// devices and the MQTT app run here.
import { fork } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqtt from 'mqtt';
import { Fleet } from '../../firmware-sim/lwm2m/fleet.ts';
import { withRatio, type Result, type Scenario } from '../result.ts';
import { PI_NODE_ARGS } from './bridge-process.ts';

const here = fileURLToPath(import.meta.url);
const repo = resolve(dirname(here), '..', '..');
const DEVICES = Number(process.env.BENCH_LWM2M_DEVICES ?? 1000);
const INTERVAL_S = Number(process.env.BENCH_LWM2M_INTERVAL ?? 10);
const WINDOW_S = Number(process.env.BENCH_LWM2M_SECONDS ?? 60);

type Msg = { id?: number; ready?: boolean; lwm2m?: number; mqtt?: number; rss?: number; hwm?: number; heap?: number; cpu?: number };

async function child(): Promise<void> {
  const { startInProcessGateway } = await import('../in-process-gateway.ts');
  const { lwm2mAdapter } = await import('../../adapters/lwm2m/index.ts');
  const { gw, stop } = await startInProcessGateway(lwm2mAdapter, { ipv6: { enabled: false }, max_devices: 100_000 }, { auth: { allow_anonymous: 'always', acl_nomatch: 'allow' } });
  process.on('message', (req: { id: number; cmd: 'stats' | 'stop' }) => {
    if (req.cmd === 'stop') return void stop().then(() => process.exit(0));
    (globalThis as { gc?: () => void }).gc?.();
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(status)?.[1] ?? 0) * 1024;
    const u = process.cpuUsage();
    process.send?.({ id: req.id, rss: kb('VmRSS'), hwm: kb('VmHWM'), heap: process.memoryUsage().heapUsed, cpu: (u.user + u.system) / 1000 });
  });
  process.send?.({ ready: true, lwm2m: gw.adapterPorts('lwm2m').udp, mqtt: gw.broker.ports.tcp });
}

async function spawnGateway() {
  const { build } = await import('esbuild');
  const out = join(repo, '.tmp', 'bench', 'lwm2m-devices.mjs');
  await build({ entryPoints: [here], outfile: out, bundle: true, platform: 'node', format: 'esm', packages: 'external', target: 'node20', logLevel: 'silent' });
  const proc = fork(out, [], { cwd: repo, execArgv: ['--expose-gc', ...PI_NODE_ARGS], env: { ...process.env, FIELDGATE_LWM2M_BENCH_CHILD: '1' }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const ready = await new Promise<Msg>((res, rej) => {
    proc.once('exit', (code) => rej(new Error(`LwM2M bench gateway exited with ${code}`)));
    proc.once('message', (m) => res(m as Msg));
  });
  proc.removeAllListeners('exit');
  let seq = 0;
  const stats = () =>
    new Promise<Msg>((res) => {
      const id = ++seq;
      const on = (m: Msg) => {
        if (m.id !== id) return;
        proc.off('message', on);
        res(m);
      };
      proc.on('message', on);
      proc.send({ id, cmd: 'stats' });
    });
  return {
    ports: ready,
    stats,
    stop: async () => {
      const exited = new Promise((r) => proc.once('exit', r));
      proc.send({ id: 0, cmd: 'stop' });
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      proc.kill();
    },
  };
}

export const scenario: Scenario = {
  name: 'lwm2m-devices',
  description: `${DEVICES} LwM2M devices, each observed on /3303/0/5700 changing every ${INTERVAL_S} s: notifications/s published vs offered over ${WINDOW_S} s, gateway RSS and CPU`,
  async run(): Promise<Result[]> {
    const gwp = await spawnGateway();
    const fleet = new Fleet({ host: '127.0.0.1', port: gwp.ports.lwm2m!, devices: DEVICES, prefix: 'bench', lifetime: 3600, binding: 'U', interval: 0, concurrency: 100 });
    const app = await mqtt.connectAsync(`mqtt://127.0.0.1:${gwp.ports.mqtt}`, { reconnectPeriod: 0 });
    try {
      let errors = 0;
      const registered = await fleet.start(() => errors++);
      if (registered < DEVICES) throw new Error(`${registered} of ${DEVICES} registered (${errors} errors)`);
      let observed = 0;
      let notified = 0;
      app.on('message', (topic) => {
        if (topic.endsWith('/up/notify')) notified++;
        else observed++;
      });
      await app.subscribeAsync(['lwm2m/+/up/notify', 'lwm2m/+/up/resp'], { qos: 0 });
      for (let i = 1; i <= DEVICES; i++) await app.publishAsync(`lwm2m/bench-${i}/dn/dm`, JSON.stringify({ reqID: i, msgType: 'observe', data: { path: '/3303/0/5700' } }), { qos: 0 });
      const until = Date.now() + 60_000;
      while (fleet.devices.reduce((n, d) => n + d.observerCount, 0) < DEVICES && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      const watching = fleet.devices.reduce((n, d) => n + d.observerCount, 0);
      if (watching < DEVICES) throw new Error(`only ${watching} of ${DEVICES} devices observed within 60 s`);
      // Each device changes its temperature every INTERVAL_S, spread over the interval.
      const timers = fleet.devices.map((d, i) => setTimeout(() => {
        const tick = () => {
          d.set('/3303/0/5700', Math.round((18 + Math.random() * 8) * 100) / 100);
          fleet.changes++;
        };
        tick();
        timers.push(setInterval(tick, INTERVAL_S * 1000));
      }, (i / DEVICES) * INTERVAL_S * 1000));
      await new Promise((r) => setTimeout(r, INTERVAL_S * 1000)); // warm-up: every device has started
      const s0 = await gwp.stats();
      const offered0 = fleet.changes;
      const got0 = notified;
      const t0 = Date.now();
      await new Promise((r) => setTimeout(r, WINDOW_S * 1000));
      const s1 = await gwp.stats();
      for (const t of timers) clearInterval(t); // no change after the window...
      const offered = fleet.changes - offered0;
      const secs = (Date.now() - t0) / 1000;
      await new Promise((r) => setTimeout(r, 1000)); // ...and the last ones in flight arrive
      const got = notified - got0;
      const cpuPct = ((s1.cpu! - s0.cpu!) / (secs * 1000)) * 100;
      return [
        withRatio({ scenario: 'lwm2m-devices', metric: 'notifications_published', value: Math.round((got / secs) * 10) / 10, unit: 'msg/s', baseline: Math.round((offered / secs) * 10) / 10, means: 'notifications published on MQTT / value changes the devices offered in the same window; 1 = none lost' }),
        { scenario: 'lwm2m-devices', metric: 'gateway_rss', value: Math.round(s1.rss! / 1048576), unit: 'MB' },
        { scenario: 'lwm2m-devices', metric: 'gateway_rss_peak', value: Math.round(s1.hwm! / 1048576), unit: 'MB' },
        { scenario: 'lwm2m-devices', metric: 'gateway_heap_used', value: Math.round(s1.heap! / 1048576), unit: 'MB' },
        { scenario: 'lwm2m-devices', metric: 'gateway_cpu', value: Math.round(cpuPct * 10) / 10, unit: '% of a core' },
        { scenario: 'lwm2m-devices', metric: 'devices_registered', value: registered, unit: 'devices' },
      ];
    } finally {
      await app.endAsync();
      await fleet.stop(false);
      await gwp.stop();
    }
  },
};

if (process.env.FIELDGATE_LWM2M_BENCH_CHILD === '1') await child();
