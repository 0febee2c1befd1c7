// `npm run sim -- lora --nodes 20`: an emulated LoRa module on a pseudo-terminal with simulated
// field nodes transmitting to it, for demos and trying a config without hardware.
import { parseCli, untilStopped, usageError } from '../cli-kit.ts';
import { nodeFrame } from './cmac.ts';
import { LoraModuleSim, type ModuleType } from './lora-sim.ts';

const USAGE = `usage: npm run sim -- lora [options]

  --type <t>        rak3172 (default) | rn2483
  --nodes <n>       simulated nodes (default 5)
  --interval <s>    seconds between frames of one node (default 10)
  --frames <mode>   fieldgate (default: signed frames with LPP readings) | raw (plain LPP bytes)
  --link <path>     where the gateway's end of the pty appears (default /tmp/fieldgate-lora0)
  --duration <s>    stop after this many seconds (default: until Ctrl-C)

Prints the fieldgate.yaml sections to paste (ACL rule, port, node ids and keys), then one line per frame.
`;

/** Demo keys: derived from the node id so the printed config always matches. Never use in the field. */
function demoKey(id: number): Buffer {
  const k = Buffer.alloc(16);
  for (let i = 0; i < 16; i++) k[i] = (i * 17 + id * 31) & 0xff;
  return k;
}

function lpp(id: number, t: number): Buffer {
  const temp = Math.round((18 + 5 * Math.sin(t / 60 + id) + (id & 0xff) * 0.1) * 10);
  const hum = Math.round((55 + 10 * Math.cos(t / 90 + id)) * 2);
  const b = Buffer.from([1, 103, 0, 0, 2, 104, hum & 0xff]);
  b.writeInt16BE(temp, 2);
  return b;
}

const OPTIONS = {
  type: { type: 'string', default: 'rak3172' },
  nodes: { type: 'string', default: '5' },
  interval: { type: 'string', default: '10' },
  frames: { type: 'string', default: 'fieldgate' },
  link: { type: 'string', default: '/tmp/fieldgate-lora0' },
  duration: { type: 'string' },
} as const;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv, OPTIONS, USAGE);
  if (typeof parsed === 'number') return parsed;
  const a = parsed; // not narrowed inside tick() otherwise (a function declaration)
  const type = a.type as ModuleType;
  const nodes = Number(a.nodes);
  const interval = Number(a.interval);
  if (type !== 'rak3172' && type !== 'rn2483') return usage(`--type must be rak3172 or rn2483, got "${a.type}"`);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 10000) return usage(`--nodes must be 1..10000, got "${a.nodes}"`);
  if (!(interval > 0)) return usage(`--interval must be > 0 seconds, got "${a.interval}"`);
  if (a.frames !== 'fieldgate' && a.frames !== 'raw') return usage(`--frames must be fieldgate or raw, got "${a.frames}"`);
  const duration = a.duration === undefined ? undefined : Number(a.duration);
  if (duration !== undefined && !(duration >= 0)) return usage(`--duration must be a number >= 0, got "${a.duration}"`);
  const sim = await LoraModuleSim.start(type, { nwm: 1, path: a.link });
  const ids = Array.from({ length: nodes }, (_, i) => 0x5100 + i);
  const yaml = [
    'auth:',
    '  acl:',
    "    - { permission: allow, action: publish, topics: ['lora/%c/up', 'lora/%c/dn/status'] }   # LoRa devices have no IP address",
    'adapters:',
    '  modem:',
    '    enabled: true',
    '    modems:',
    '      - name: lora0',
    `        type: ${type}`,
    `        path: ${sim.path}`,
    `        frames: ${a.frames}`,
    ...(a.frames === 'fieldgate' ? ['        nodes:', ...ids.map((id) => `          - { id: "${id.toString(16).padStart(8, '0')}", key: "${demoKey(id).toString('hex')}", decoder: lpp }`)] : []),
  ];
  process.stdout.write(`simulated ${type} on ${sim.path} with ${nodes} nodes, one frame per node every ${interval} s\n\n${yaml.join('\n')}\n\n`);
  const counters = new Map<number, number>();
  const started = Date.now();
  const timers = ids.map((id, i) =>
    setTimeout(
      () => {
        const t = setInterval(() => tick(id), interval * 1000);
        timers.push(t);
        tick(id);
      },
      Math.round((i * interval * 1000) / nodes),
    ),
  );
  function tick(id: number): void {
    const n = (counters.get(id) ?? 0) + 1;
    counters.set(id, n);
    const body = lpp(id, (Date.now() - started) / 1000);
    const payload = a.frames === 'fieldgate' ? nodeFrame(demoKey(id), id, n, 1, body) : body;
    sim.emulator.rx({ payload, rssi: -60 - (id % 50), snr: 10 - (id % 15) });
    process.stdout.write(`${new Date().toISOString()} node ${id.toString(16).padStart(8, '0')} #${n} ${payload.toString('hex')}${sim.emulator.listening ? '' : ' (radio not listening yet: queued)'}\n`);
  }
  await untilStopped(duration);
  for (const t of timers) clearTimeout(t);
  await sim.stop();
  return 0;
}

function usage(msg: string): number {
  return usageError(msg, USAGE);
}
