// `npm run sim -- nbiot`: an emulated NB-IoT module (BC95 or BG96) on a pseudo-terminal, with a
// simulated CoAP meter on the operator's network sending readings to it, for demos and trying a
// config without hardware. The gateway (npm start) opens the pty like a real module.
import { parseArgs } from 'node:util';
import { CoapClient, type CoapResponse } from '../coap/client.ts';
import { NbiotModuleSim, type NbiotModuleType } from './nbiot-sim.ts';

const USAGE = `usage: npm run sim -- nbiot [options]

  --type <t>        bc95 (default) | bg96
  --interval <s>    seconds between readings (default 10)
  --meter <id>      the meter's client id (default meter-1)
  --link <path>     where the gateway's end of the pty appears (default /tmp/fieldgate-nb0)
  --duration <s>    stop after this many seconds (default: until Ctrl-C)

Prints the fieldgate.yaml sections to paste, then one line per reading. The meter POSTs JSON to
/ps/meters/<id>/reading (published on MQTT meters/<id>/reading) and observes /ps/meters/<id>/cmd:
  mosquitto_pub -h 127.0.0.1 -t meters/meter-1/cmd -m 'valve=closed'
`;

const OPTIONS = {
  type: { type: 'string', default: 'bc95' },
  interval: { type: 'string', default: '10' },
  meter: { type: 'string', default: 'meter-1' },
  link: { type: 'string', default: '/tmp/fieldgate-nb0' },
  duration: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

function usage(msg: string): number {
  process.stderr.write(`${msg}\n\n${USAGE}`);
  return 2;
}

export async function main(argv: string[]): Promise<number> {
  let a: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS }>>['values'];
  try {
    a = parseArgs({ args: argv, options: OPTIONS }).values;
  } catch (err) {
    return usage((err as Error).message);
  }
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const type = a.type as NbiotModuleType;
  const interval = Number(a.interval);
  if (type !== 'bc95' && type !== 'bg96') return usage(`--type must be bc95 or bg96, got "${a.type}"`);
  if (!(interval > 0)) return usage(`--interval must be > 0 seconds, got "${a.interval}"`);
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(a.meter)) return usage(`--meter must be letters, digits, _ or -, got "${a.meter}"`);
  const sim = await NbiotModuleSim.start(type, { path: a.link });
  const net = await sim.network();
  const yaml = [
    'auth:',
    '  allow_anonymous: always        # demo only: the meter has an operator address, not loopback (docs/modem.md, NB-IoT)',
    '  acl:',
    "    - { permission: allow, action: all, topics: ['meters/#'] }",
    "    - { permission: allow, action: publish, topics: ['nbiot/%c/status'] }",
    'adapters:',
    '  modem:',
    '    enabled: true',
    '    modems:',
    '      - name: nb0',
    `        type: ${type}`,
    `        path: ${sim.path}`,
    '        nbiot: { listen_port: 5683, protocol: coap }',
  ];
  process.stdout.write(`simulated ${type} on ${sim.path}; meter ${a.meter} sends a reading every ${interval} s through it\n\n${yaml.join('\n')}\n\n`);
  const meter = await CoapClient.open(net.host, net.port, '127.0.0.1');
  meter.on('notification', (n: CoapResponse) => process.stdout.write(`${new Date().toISOString()} ${a.meter} downlink: ${n.payload.toString()}\n`));
  let observing = false;
  let n = 0;
  const stamp = () => new Date().toISOString();
  const tick = async () => {
    n++;
    const body = JSON.stringify({ kwh: Math.round((1200 + n * 0.37) * 100) / 100, n });
    const open = sim.emulator.openPorts.length > 0;
    try {
      if (!observing) {
        const r = await meter.request({ method: 'GET', path: `/ps/meters/${a.meter}/cmd`, query: { c: a.meter }, observe: 0, timeoutMs: 8000 });
        observing = r.code === '2.05';
        process.stdout.write(`${stamp()} ${a.meter} observe meters/${a.meter}/cmd: ${r.code}\n`);
      }
      const r = await meter.request({ method: 'POST', path: `/ps/meters/${a.meter}/reading`, query: { c: a.meter }, payload: body, timeoutMs: 8000 });
      process.stdout.write(`${stamp()} ${a.meter} #${n} ${body} -> ${r.code}\n`);
    } catch (err) {
      process.stdout.write(`${stamp()} ${a.meter} #${n} ${body} -> ${(err as Error).message}${open ? '' : ' (the module has no socket yet: start the gateway with the config above)'}\n`);
    }
  };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void tick().finally(() => (busy = false));
  }, interval * 1000);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    if (a.duration) setTimeout(resolve, Number(a.duration) * 1000);
  });
  clearInterval(timer);
  meter.close();
  await sim.stop();
  return 0;
}
