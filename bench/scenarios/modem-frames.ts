import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nodeFrame } from '../../firmware-sim/modem/cmac.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import type { Result, Scenario } from '../result.ts';

// Frames/s from an emulated RAK3172 (RUI3, 115200 baud configured) through the modem adapter into
// the internal broker, for raw and for fieldgate frames (MIC check, counter, LPP decoding), against
// the serial line's physical limit computed from the bytes the emulator wrote in the same run
// (10 bits per byte at 115200 baud: a pty itself is not rate-limited). The gateway runs in a child
// process so its CPU time per 1,000 frames is its own.

const FRAMES = Number(process.env.BENCH_MODEM_FRAMES ?? 5000);
const BAUD = 115200;
const KEY = Buffer.from('000102030405060708090a0b0c0d0e0f', 'hex');
const here = fileURLToPath(import.meta.url);

type Req = { id: number; cmd: 'wait'; count: number } | { id: number; cmd: 'cpu' } | { id: number; cmd: 'stop' };

async function child(): Promise<void> {
  const { modemAdapter } = await import('../../adapters/modem/index.ts');
  const { buildSchema } = await import('../../gateway/app/config.ts');
  const { Gateway } = await import('../../gateway/app/gateway.ts');
  const { validateConfig } = await import('../../gateway/config/load.ts');
  const { createLogger } = await import('../../gateway/log/logger.ts');
  const dir = mkdtempSync(join(tmpdir(), 'fieldgate-bench-modem-'));
  const frames = process.env.BENCH_MODEM_MODE as 'raw' | 'fieldgate';
  const modem = { name: 'lora0', type: 'rak3172', path: process.env.BENCH_MODEM_PATH, frames, ...(frames === 'fieldgate' ? { nodes: [{ id: '00000001', key: KEY.toString('hex'), decoder: 'lpp' }] } : {}) };
  const doc = {
    gateway: { data_dir: dir },
    broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
    log: { level: 'silent' },
    http: { enabled: false },
    auth: { acl: [{ permission: 'allow', action: 'publish', topics: ['lora/%c/up', 'lora/%c/dn/status'] }] },
    adapters: { modem: { enabled: true, modems: [modem] } },
  };
  const gw = new Gateway({ config: validateConfig(buildSchema([modemAdapter]), doc, 'bench'), adapters: [modemAdapter], log: createLogger({ level: 'silent', format: 'json' }) });
  await gw.start();
  const metric = (n: string) => gw.metrics.snapshot()[`adapters/modem/lora0/${n}`] ?? 0;
  const send = (m: unknown) => process.send?.(m);
  process.on('message', (req: Req) => {
    if (req.cmd === 'wait') {
      const poll = () => (metric('frames/published') + metric('frames/dropped/publish_failed') >= req.count ? send({ id: req.id, published: metric('frames/published') }) : setTimeout(poll, 2));
      poll();
    } else if (req.cmd === 'cpu') {
      const c = process.cpuUsage();
      send({ id: req.id, us: c.user + c.system });
    } else {
      void gw.stop().then(() => {
        rmSync(dir, { recursive: true, force: true });
        send({ id: req.id });
        process.exit(0);
      });
    }
  });
  const ready = () => (metric('ready') === 1 ? send({ ready: true }) : setTimeout(ready, 10));
  ready();
}

if (process.env.FIELDGATE_MODEM_BENCH_CHILD === '1') void child();

async function measure(mode: 'raw' | 'fieldgate'): Promise<{ fps: number; linefps: number; cpuPer1000: number; bytes: number }> {
  const sim = await LoraModuleSim.start('rak3172', { nwm: 0, airtimeScale: 0 });
  const proc = fork(here, [], { execArgv: ['--import', 'tsx'], env: { ...process.env, FIELDGATE_MODEM_BENCH_CHILD: '1', BENCH_MODEM_PATH: sim.path, BENCH_MODEM_MODE: mode }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    await new Promise<void>((res, rej) => {
      proc.once('exit', (code) => rej(new Error(`bench gateway exited with ${code}`)));
      proc.once('message', () => res());
    });
    proc.removeAllListeners('exit');
    let next = 1;
    const ask = <T>(req: Record<string, unknown>) =>
      new Promise<T>((res) => {
        const id = next++;
        const on = (m: { id?: number }) => {
          if (m.id !== id) return;
          proc.off('message', on);
          res(m as T);
        };
        proc.on('message', on);
        proc.send({ ...req, id });
      });
    // A realistic field frame: an LPP temperature + humidity reading (7 bytes), signed in fieldgate mode.
    const reading = Buffer.from('0167011002686e', 'hex');
    const payloads = Array.from({ length: FRAMES }, (_, i) => (mode === 'fieldgate' ? nodeFrame(KEY, 1, i + 1, 1, reading) : reading));
    const bytes0 = sim.emulator.bytesOut;
    const cpu0 = (await ask<{ us: number }>({ cmd: 'cpu' })).us;
    const start = process.hrtime.bigint();
    for (const p of payloads) sim.emulator.rx({ payload: p, rssi: -70, snr: 8 });
    const done = await ask<{ published: number }>({ cmd: 'wait', count: FRAMES });
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    const cpu1 = (await ask<{ us: number }>({ cmd: 'cpu' })).us;
    if (done.published !== FRAMES) throw new Error(`${mode}: ${done.published} of ${FRAMES} frames published`);
    const bytes = sim.emulator.bytesOut - bytes0;
    const lineSecs = (bytes * 10) / BAUD;
    await ask({ cmd: 'stop' });
    return { fps: Math.round(FRAMES / secs), linefps: Math.round(FRAMES / lineSecs), cpuPer1000: Math.round((cpu1 - cpu0) / FRAMES), bytes };
  } finally {
    proc.kill();
    await sim.stop();
  }
}

export const scenario: Scenario = {
  name: 'modem-frames',
  description: `${FRAMES} frames from an emulated RAK3172 through the modem adapter into the broker (raw and fieldgate), vs the 115200-baud line rate of the same bytes`,
  async run(): Promise<Result[]> {
    const out: Result[] = [];
    for (const mode of ['raw', 'fieldgate'] as const) {
      const r = await measure(mode);
      process.stderr.write(`bench: modem-frames ${mode}: ${r.fps} frames/s; the ${r.bytes} bytes on the wire need ${((r.bytes * 10) / BAUD).toFixed(2)} s at ${BAUD} baud (${r.linefps} frames/s); gateway CPU ${r.cpuPer1000} ms per 1,000 frames\n`);
      out.push({ scenario: 'modem-frames', metric: `${mode}_frames_per_sec`, value: r.fps, unit: 'frames/s' });
      // Not a baseline: the line's capacity is computed from the bytes (10 bits each at BAUD), a
      // physical bound on what a real modem can deliver, so this says how much headroom there is.
      out.push({ scenario: 'modem-frames', metric: `${mode}_rate_over_${BAUD}_baud_line_capacity`, value: Math.round((r.fps / r.linefps) * 100) / 100, unit: `x (line: ${r.linefps} frames/s)`, means: `frames/s processed as a multiple of the ${BAUD}-baud serial line's capacity for the same bytes (computed, 10 bits a byte): a physical bound on what a real modem delivers, not a measured baseline; > 1 = the gateway keeps up with a saturated line` });
      out.push({ scenario: 'modem-frames', metric: `${mode}_gateway_cpu_per_1000_frames`, value: r.cpuPer1000, unit: 'ms' });
    }
    return out;
  },
};
