// `npm run sim -- coap --devices 100 --rate 10`: simulated CoAP sensors against a gateway.
import { checkArgs, numberArg, parseCli, untilStopped } from '../cli-kit.ts';
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
  const a = parseCli(argv, {
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
  }, USAGE);
  if (typeof a === 'number') return a;
  const opts = checkArgs(USAGE, () => ({
    host: a.host,
    port: numberArg('port', a.port, 1),
    devices: Math.floor(numberArg('devices', a.devices, 1)),
    rate: numberArg('rate', a.rate, 0.001),
    count: a.count === undefined ? undefined : Math.floor(numberArg('count', a.count, 1)),
    duration: a.duration === undefined ? undefined : numberArg('duration', a.duration, 0),
    confirmable: !a.non,
    observe: a.observe,
    prefix: a.prefix,
    username: a.username,
    password: a.password,
    onDownlink: (id: string, payload: Buffer) => process.stdout.write(`downlink ${id}: ${payload.toString()}\n`),
  }));
  if (typeof opts === 'number') return opts;
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
  await untilStopped(opts.duration, sim.done);
  clearInterval(report);
  const s = await sim.stop();
  if (s.failed > 0) process.stderr.write(`coap sim: ${s.failed} of ${s.sent} requests failed: ${failureSummary(s.codes)}${s.codes['4.29'] ? ' (4.29: the gateway rate-limited a source address; see adapters.coap.limits.rate)' : ''}${s.codes.timeout ? ' (timeout: no answer within 30 s)' : ''}\n`);
  process.stdout.write(`${JSON.stringify(s)}\n`);
  return s.failed > 0 ? 1 : 0;
}
