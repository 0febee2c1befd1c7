// `npm run sim -- lwm2m --devices 10`: simulated LwM2M devices (Device 3, Temperature 3303,
// Firmware Update 5) against a gateway's LwM2M adapter. Prints what the gateway asks them.
import { checkArgs, numberArg, parseCli, untilStopped } from '../cli-kit.ts';
import { Fleet } from './fleet.ts';

const USAGE = `usage: npm run sim -- lwm2m [options]

  --host <addr>      gateway address (default 127.0.0.1)
  --port <n>         LwM2M port (default 5783)
  --devices <n>      simulated devices, each with its own UDP socket (default 1); against a
                     loopback gateway each also has its own address (127.0.1.2, .3, ...)
  --prefix <name>    endpoint name prefix (default "sim": sim-1, sim-2, ...)
  --lifetime <s>     registration lifetime; an Update goes every lifetime/2 (default 300)
  --binding <b>      U, or UQ for queue mode (default U)
  --interval <s>     temperature (/3303/0/5700) changes every this many seconds (default 10; 0 = never)
  --imei <imei>      sent as imei= (the username) with --password
  --password <p>
  --duration <s>     de-register and stop after this many seconds (default: until Ctrl-C)
  --quiet            do not print the requests the devices receive
`;

export async function main(argv: string[]): Promise<number> {
  const a = parseCli(argv, {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string', default: '5783' },
    devices: { type: 'string', default: '1' },
    prefix: { type: 'string', default: 'sim' },
    lifetime: { type: 'string', default: '300' },
    binding: { type: 'string', default: 'U' },
    interval: { type: 'string', default: '10' },
    imei: { type: 'string' },
    password: { type: 'string' },
    duration: { type: 'string' },
    quiet: { type: 'boolean', default: false },
  }, USAGE);
  if (typeof a === 'number') return a;
  const query: Record<string, string> = {};
  if (a.imei) query.imei = a.imei;
  if (a.password) query.password = a.password;
  const checked = checkArgs(USAGE, () => ({
    duration: a.duration === undefined ? undefined : numberArg('duration', a.duration, 0),
    fleet: new Fleet({ host: a.host, port: numberArg('port', a.port, 1), devices: Math.floor(numberArg('devices', a.devices, 1)), prefix: a.prefix, lifetime: Math.floor(numberArg('lifetime', a.lifetime, 1)), binding: a.binding, interval: numberArg('interval', a.interval, 0), query }),
  }));
  if (typeof checked === 'number') return checked;
  const { fleet, duration } = checked;
  const registered = await fleet.start((ep, err) => process.stderr.write(`${ep}: ${err.message}\n`));
  process.stdout.write(`${registered} of ${fleet.devices.length} devices registered with ${a.host}:${a.port}\n`);
  if (registered === 0) {
    // The usual cause on a first try: the gateway runs, but its LwM2M adapter is off by default.
    process.stderr.write(`hint: is the gateway's LwM2M adapter on? It is off by default; in fieldgate.yaml:\n  adapters:\n    lwm2m:\n      enabled: true\nthen restart the gateway (this sim sent to UDP ${a.port}; the adapter listens on adapters.lwm2m.port, 5783 by default)\n`);
    await fleet.stop(false);
    return 1;
  }
  if (!a.quiet) for (const d of fleet.devices) d.on('request', (r: { method: string; path: string; query: string[]; observe?: number }) => process.stdout.write(`${d.opts.ep} <- ${r.method} ${r.path}${r.query.length ? `?${r.query.join('&')}` : ''}${r.observe !== undefined ? ` (observe ${r.observe})` : ''}\n`));
  await untilStopped(duration);
  await fleet.stop();
  process.stdout.write(`de-registered; ${fleet.changes} temperature changes\n`);
  return 0;
}
