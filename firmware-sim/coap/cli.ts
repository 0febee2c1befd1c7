// `npm run sim -- coap --devices 100 --rate 10`: simulated CoAP sensors against a gateway.
import { parseArgs } from 'node:util';
import { CoapSensorSim, failureSummary, isLoopback } from './sim.ts';

const USAGE = `usage: npm run sim -- coap [options]

  --host <addr>      gateway address (default 127.0.0.1)
  --port <n>         CoAP port (default 5683)
  --devices <n>      simulated sensors, each with its own UDP source port (default 10); against a
                     loopback gateway each also has its own address (127.0.0.2, .3, ...)
  --rate <n>         messages per second per device (default 1; 0.1 = one every 10 s)
  --count <n>        stop after n messages per device (default: run until Ctrl-C or --duration)
  --duration <s>     stop after this many seconds
  --non              send NON requests (QoS 0) instead of CON (QoS 1)
  --observe          observe /ps/devices/{id}/cmd and print downlinks
  --prefix <name>    device id prefix (default "sensor": sensor-1, sensor-2, ...)
  --username <u>     credentials sent as u= / p= on every request
  --password <p>
`;

export async function main(argv: string[]): Promise<number> {
  let a;
  try {
    a = parseArgs({
      args: argv,
      options: {
        host: { type: 'string', default: '127.0.0.1' },
        port: { type: 'string', default: '5683' },
        devices: { type: 'string', default: '10' },
        rate: { type: 'string', default: '1' },
        count: { type: 'string' },
        duration: { type: 'string' },
        non: { type: 'boolean', default: false },
        observe: { type: 'boolean', default: false },
        prefix: { type: 'string', default: 'sensor' },
        username: { type: 'string' },
        password: { type: 'string' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    }).values;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (a.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const num = (name: string, v: string | undefined, min: number) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${v}"`);
    return n;
  };
  let opts;
  try {
    opts = {
      host: a.host!,
      port: num('port', a.port, 1),
      devices: Math.floor(num('devices', a.devices, 1)),
      rate: num('rate', a.rate, 0.001),
      count: a.count === undefined ? undefined : Math.floor(num('count', a.count, 1)),
      confirmable: !a.non,
      observe: a.observe,
      prefix: a.prefix,
      username: a.username,
      password: a.password,
      onDownlink: (id: string, payload: Buffer) => process.stdout.write(`downlink ${id}: ${payload.toString()}\n`),
    };
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const sim = new CoapSensorSim(opts);
  const sources = isLoopback(opts.host) && !opts.host.includes(':') ? `, one source address each (127.0.0.2 ...)` : '';
  process.stdout.write(`coap sim: ${opts.devices} devices x ${opts.rate} msg/s = ${+(opts.devices * opts.rate).toFixed(2)} msg/s to coap://${opts.host}:${opts.port} (${opts.confirmable ? 'CON' : 'NON'})${sources}\n`);
  try {
    await sim.start();
  } catch (err) {
    process.stderr.write(`coap sim could not start: ${(err as Error).message}\n`);
    await sim.stop();
    return 1;
  }
  const report = setInterval(() => {
    const s = sim.snapshot();
    const why = s.failed > 0 ? ` (${failureSummary(s.codes)})` : '';
    process.stdout.write(`sent ${s.sent} ok ${s.ok} failed ${s.failed}${why} downlinks ${s.downlinks} p50 ${s.latency_ms.p50} ms p99 ${s.latency_ms.p99} ms\n`);
  }, 5000);
  const stopOn: Promise<void>[] = [sim.done, new Promise((r) => process.once('SIGINT', () => r()))];
  if (a.duration) stopOn.push(new Promise((r) => setTimeout(r, num('duration', a.duration, 0) * 1000)));
  await Promise.race(stopOn);
  clearInterval(report);
  const s = await sim.stop();
  if (s.failed > 0) process.stderr.write(`coap sim: ${s.failed} of ${s.sent} requests failed: ${failureSummary(s.codes)}${s.codes['4.29'] ? ' (4.29: the gateway rate-limited a source address; see adapters.coap.limits.rate)' : ''}${s.codes.timeout ? ' (timeout: no answer within 30 s)' : ''}\n`);
  process.stdout.write(`${JSON.stringify(s)}\n`);
  return s.failed > 0 ? 1 : 0;
}
