import mqtt, { type MqttClient } from 'mqtt';
import { parseArgs } from 'node:util';

// The fallback load generator (bench/loadgen.ts uses it when loadgen.c cannot be built): the same
// modes, options and JSON output as loadgen.c, on MQTT.js. Run as its own process (bundled by
// esbuild), so a scenario's servers never share an event loop with it.

const { positionals, values: o } = parseArgs({
  allowPositionals: true,
  options: {
    h: { type: 'string', default: '127.0.0.1' },
    p: { type: 'string', default: '1883' },
    H: { type: 'string' },
    P: { type: 'string' },
    n: { type: 'string', default: '4' },
    c: { type: 'string', default: '100000' },
    w: { type: 'string', default: '64' },
    q: { type: 'string', default: '1' },
    s: { type: 'string', default: '100' },
    r: { type: 'string', default: '1000' },
    d: { type: 'string', default: '5' },
    C: { type: 'string', default: '1000' },
    S: { type: 'string', default: '1' },
    t: { type: 'string', default: 'bench' },
    T: { type: 'string', default: '120' },
    Q: { type: 'string' },
  },
});
const mode = positionals[0];
const qos = Number(o.q) as 0 | 1;
const npub = Number(o.n);
const size = Number(o.s);
const prefix = o.t;
const withSub = o.S !== '0';
const timeoutMs = Number(o.T) * 1000;
const nowNs = () => process.hrtime.bigint();

function connect(host: string, port: number, clientId: string): Promise<MqttClient> {
  const c = mqtt.connect({ host, port, clientId, keepalive: 60, reconnectPeriod: 0, protocolVersion: 4 });
  return new Promise((resolve, reject) => {
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

/** Send time (ns), publisher index, sequence number, then 'a' (the layout loadgen.c uses). */
function payload(idx: number, seq: number): Buffer {
  const b = Buffer.alloc(size, 0x61);
  b.writeBigUInt64LE(nowNs(), 0);
  b.writeUInt32LE(idx, 8);
  b.writeUInt32LE(seq, 12);
  return b;
}

let received = 0;
let duplicates = 0;
const seen = new Set<number>();
let firstRecv = 0n;
let lastRecv = 0n;
const e2e: number[] = [];

async function subscriber(collect: boolean): Promise<MqttClient | undefined> {
  if (!withSub) return undefined;
  const s = await connect(o.H ?? o.h, Number(o.P ?? o.p), `lg-${process.pid}-sub`);
  s.on('message', (_t, p) => {
    const t = nowNs();
    if (p.length < 16) return;
    const key = p.readUInt32LE(8) * 2 ** 32 + p.readUInt32LE(12);
    if (seen.has(key)) return void duplicates++;
    seen.add(key);
    if (!firstRecv) firstRecv = t;
    lastRecv = t;
    received++;
    if (collect) e2e.push(Number(t - p.readBigUInt64LE(0)) / 1000);
  });
  await s.subscribeAsync(`${prefix}/#`, { qos });
  return s;
}

/** Resolves when `done()` holds, or nothing moved for `quietMs`, or the timeout passed. */
async function drain(done: () => boolean, progress: () => number, quietMs: number, deadline: number): Promise<void> {
  let last = -1;
  let lastChange = Date.now();
  while (!done()) {
    if (progress() !== last) [last, lastChange] = [progress(), Date.now()];
    if (Date.now() - lastChange > quietMs || Date.now() > deadline) return;
    await new Promise((r) => setTimeout(r, 2));
  }
}

function cpuS(): number {
  const u = process.cpuUsage();
  return Math.round((u.user + u.system) / 1000) / 1000;
}

async function pubsub(): Promise<void> {
  await subscriber(false);
  const pubs = await Promise.all(Array.from({ length: npub }, (_, i) => connect(o.h, Number(o.p), `lg-${process.pid}-pub${i}`)));
  const per = Math.floor(Number(o.c) / npub);
  const count = per * npub;
  let acked = 0;
  let sent = 0;
  const start = nowNs();
  const worker = async (c: MqttClient, i: number, quota: { left: number; seq: number }) => {
    while (quota.left > 0) {
      quota.left--;
      sent++;
      await c.publishAsync(`${prefix}/${i}`, payload(i, quota.seq++), { qos });
      acked++;
    }
  };
  const runs = pubs.flatMap((c, i) => {
    const quota = { left: per, seq: 0 };
    return Array.from({ length: Number(o.w) }, () => worker(c, i, quota));
  });
  const quiet = o.Q !== undefined ? Number(o.Q) * 1000 : qos ? 30_000 : 2000;
  await Promise.race([Promise.all(runs), new Promise((r) => setTimeout(r, timeoutMs))]);
  await drain(() => !withSub || received >= count, () => received + acked, quiet, Date.now() + timeoutMs);
  const end = withSub ? lastRecv : nowNs();
  const secs = Number((end > start ? end : nowNs()) - start) / 1e9;
  const got = withSub ? received : acked;
  out({ mode: 'pubsub', qos, publishers: npub, window: Number(o.w), sent, acked, received, secs, recv_per_sec: Math.round(got / secs), lost: count - got, duplicates, cpu_s: cpuS() });
}

function pct(xs: number[], p: number): number {
  if (!xs.length) return 0;
  return Math.round(xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!);
}

async function rate(): Promise<void> {
  await subscriber(true);
  const pubs = await Promise.all(Array.from({ length: npub }, (_, i) => connect(o.h, Number(o.p), `lg-${process.pid}-pub${i}`)));
  const perSec = Number(o.r);
  const total = Math.floor(perSec * Number(o.d));
  const ack: number[] = [];
  let sent = 0;
  let acked = 0;
  const start = nowNs();
  while (sent < total) {
    const due = Math.min(total, Math.floor((Number(nowNs() - start) / 1e9) * perSec));
    for (; sent < due; sent++) {
      const t0 = nowNs();
      const c = pubs[sent % npub]!;
      c.publish(`${prefix}/${sent % npub}`, payload(sent % npub, Math.floor(sent / npub)), { qos }, () => {
        acked++;
        ack.push(Number(nowNs() - t0) / 1000);
      });
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await drain(() => acked >= total && (!withSub || received >= total), () => received + acked, o.Q !== undefined ? Number(o.Q) * 1000 : 10_000, Date.now() + timeoutMs);
  ack.sort((a, b) => a - b);
  e2e.sort((a, b) => a - b);
  out({
    mode: 'rate', qos, rate: perSec, secs: Number(o.d), sent, acked, received,
    puback_p50_us: pct(ack, 0.5), puback_p99_us: pct(ack, 0.99), puback_max_us: pct(ack, 1),
    e2e_p50_us: pct(e2e, 0.5), e2e_p99_us: pct(e2e, 0.99), e2e_max_us: pct(e2e, 1),
    lost: total - (withSub ? received : acked), duplicates, cpu_s: cpuS(),
  });
}

async function idle(): Promise<void> {
  const n = Number(o.C);
  const clients: MqttClient[] = [];
  for (let i = 0; i < n; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, n - i) }, async (_, j) => {
        const c = await connect(o.h, Number(o.p), `lg-${i + j}`);
        await c.subscribeAsync(`devices/lg-${i + j}/cmd`, { qos: 1 });
        return c;
      }),
    );
    clients.push(...batch);
  }
  process.stdout.write(`ready ${clients.length}\n`);
  process.stdin.resume();
  await new Promise((r) => process.stdin.once('end', r));
  await Promise.all(clients.map((c) => c.endAsync(true)));
}

function out(obj: Record<string, number | string>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
  process.exit(0);
}

if (mode === 'pubsub') await pubsub();
else if (mode === 'rate') await rate();
else if (mode === 'idle') await idle();
else {
  process.stderr.write(`loadgen-mqttjs: unknown mode ${mode}\n`);
  process.exit(2);
}
process.exit(0);
