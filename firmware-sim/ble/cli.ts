// `npm run sim -- ble`: a gateway whose BLE adapter scans a simulated controller (noble's bindings
// seam) with a fleet of sensors and beacons, for demos without a radio.
import { buildSchema } from '../../gateway/app/config.ts';
import { Gateway } from '../../gateway/app/gateway.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import { createLogger } from '../../gateway/log/logger.ts';
import { tempDir } from '../../gateway/test/helpers.ts';
import { bleAdapterDefinition } from '../../adapters/ble/index.ts';
import { nobleWithBindings } from '../../adapters/ble/radio.ts';
import { SimBindings } from './bindings.ts';
import { Fleet } from './fleet.ts';
import { checkArgs, numberArg, parseCli, untilStopped } from '../cli-kit.ts';

const USAGE = `usage: npm run sim -- ble [options]

Starts a gateway (MQTT on 127.0.0.1) whose BLE adapter hears a simulated fleet: BTHome and pvvx
thermometers with drifting readings, a RuuviTag, an iBeacon, an Eddystone TLM beacon, a phone
(never published) and a connectable device c0ffee000001 (battery 180f/2a19; writes to the Nordic
UART RX characteristic come back as notifications). Watch it with
  mosquitto_sub -p <port> -v -t 'ble/#' -t '$SYS/brokers/+/gateway/ble/#'

  --port <n>        MQTT port (default 1883; 0 = any free port)
  --sensors <n>     thermometers of each kind (default 5)
  --rate <n>        advertisements per second per device (default 2)
  --repeats <n>     advertisements per reading (default 4: sensors repeat each reading)
  --duration <s>    stop after this many seconds (default: Ctrl-C)
  --log <level>     gateway log level (default info)
`;

export async function main(argv: string[]): Promise<number> {
  const a = parseCli(argv, {
    port: { type: 'string', default: '1883' },
    sensors: { type: 'string', default: '5' },
    rate: { type: 'string', default: '2' },
    repeats: { type: 'string', default: '4' },
    duration: { type: 'string' },
    log: { type: 'string', default: 'info' },
  }, USAGE);
  if (typeof a === 'number') return a;
  const o = checkArgs(USAGE, () => ({
    port: numberArg('port', a.port, 0),
    sensors: Math.floor(numberArg('sensors', a.sensors, 0)),
    rate: numberArg('rate', a.rate, 0.1),
    repeats: Math.floor(numberArg('repeats', a.repeats, 1)),
    duration: a.duration === undefined ? undefined : numberArg('duration', a.duration, 0),
  }));
  if (typeof o === 'number') return o;
  const { port, sensors, rate, repeats } = o;
  const sim = new SimBindings();
  // One noble per adapter start or renewal, as with the real radio; the adapter stops each one.
  const simBle = bleAdapterDefinition({ noble: () => nobleWithBindings(sim) });
  // Only the BLE adapter and no HTTP API: the sim opens no other port (CoAP's default
  // 0.0.0.0:5683, the API's 0.0.0.0:18083 that a gateway already running holds).
  const adapters = [simBle];
  const data = tempDir('fieldgate-sim-ble-');
  const config = validateConfig(buildSchema(adapters), {
    gateway: { data_dir: data.path },
    log: { level: a.log },
    http: { enabled: false },
    broker: { listeners: { tcp: { host: '127.0.0.1', port } } },
    auth: { acl: [{ permission: 'allow', action: 'publish', topics: ['ble/%c/#'] }] },
    adapters: { ble: { enabled: true, allow: { formats: ['*'] }, publish: { min_interval: '1s' }, presence_timeout: '30s' } },
  }, 'npm run sim -- ble');
  const gw = new Gateway({ config, adapters, log: createLogger({ level: config.log.level, format: config.log.format }) });
  await gw.start();
  const fleet = new Fleet(sim, { sensors, rate, repeats });
  fleet.start();
  process.stdout.write(`ble sim: ${fleet.devices.length} devices at ${rate}/s each; MQTT on 127.0.0.1:${gw.broker.ports.tcp}\n  mosquitto_sub -p ${gw.broker.ports.tcp} -v -t 'ble/#'\n`);
  await untilStopped(o.duration);
  fleet.stop();
  await gw.stop();
  data.remove();
  process.stdout.write(`ble sim: ${fleet.advertised} advertisements sent\n`);
  return 0;
}
