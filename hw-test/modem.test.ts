import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startModemGateway, until, waitReady, type ModemTestGateway } from '../adapters/modem/test-kit.ts';

// The modem adapter's behaviour against a real LoRa module (hw-test/README.md has the checklist):
//   FIELDGATE_HW_MODEM=/dev/ttyUSB0 FIELDGATE_HW_MODEM_TYPE=rak3172 node --import tsx --test hw-test/modem.test.ts
// Optional: FIELDGATE_HW_MODEM_BAUD, FIELDGATE_HW_MODEM_FREQ (Hz, default 868100000),
// FIELDGATE_HW_WAIT_FRAME=<seconds> to also wait for a frame from a node you trigger by hand.
// Without the variables the suite is skipped with the reason: it needs hardware, not a tool, so
// FIELDGATE_REQUIRE_TOOLS does not turn the skip into a failure.

const path = process.env.FIELDGATE_HW_MODEM;
const type = process.env.FIELDGATE_HW_MODEM_TYPE;
const isNbiot = type === 'bc95' || type === 'bg96';
const skip = !path || !type ? 'needs a LoRa or NB-IoT module: set FIELDGATE_HW_MODEM (serial port path) and FIELDGATE_HW_MODEM_TYPE (rak3172 | rn2483 | bc95 | bg96)' : undefined;
if (skip) process.stdout.write(`# hw-test/modem: skipped: ${skip}\n`);

describe('modem adapter on real hardware (LoRa)', { skip: skip ?? (isNbiot ? 'FIELDGATE_HW_MODEM_TYPE is an NB-IoT module' : undefined) }, () => {
  let g: ModemTestGateway;
  const waitFrame = Number(process.env.FIELDGATE_HW_WAIT_FRAME ?? 0);

  before(async () => {
    if (type !== 'rak3172' && type !== 'rn2483') throw new Error(`FIELDGATE_HW_MODEM_TYPE must be rak3172 or rn2483, got "${type}"`);
    g = await startModemGateway([
      {
        name: 'hw0',
        type,
        path,
        ...(process.env.FIELDGATE_HW_MODEM_BAUD ? { baud: Number(process.env.FIELDGATE_HW_MODEM_BAUD) } : {}),
        lora: { frequency: Number(process.env.FIELDGATE_HW_MODEM_FREQ ?? 868_100_000), sf: 7 },
        // Real modules are slower than the emulator: the adapter's defaults, a quicker probe.
        timeouts: { command: '1s', reboot: '5s', tx_margin: '1s' },
        probe_interval: '2s',
      },
    ]);
  });
  after(async () => {
    await g?.stop();
  });

  test('bring-up to continuous receive', async () => {
    await waitReady(g, 'hw0');
    assert.ok(g.logs.some((l) => /^modem hw0 ready: /.test(l.msg)), 'ready line logged');
  });

  test('liveness probes answer (no recovery while idle)', async () => {
    const t0 = g.metric('hw0/at/timeouts');
    const p0 = g.metric('hw0/probes');
    await until(() => g.metric('hw0/probes') >= p0 + 2, 'two liveness probes answered', 30_000);
    assert.equal(g.metric('hw0/at/timeouts'), t0);
    assert.equal(g.metric('hw0/recoveries'), 0);
  });

  test('a downlink goes on air (stop receive, send, end of TX, re-arm) and receive is back', async () => {
    await g.mq.publishAsync('lora/hw0/dn', JSON.stringify({ payload: '6877746573', id: 'hw' }), { qos: 1 });
    await until(() => g.got.some((m) => m.topic === 'lora/hw0/dn/status' && m.body.id === 'hw'), 'downlink status', 15_000);
    const s = g.got.find((m) => m.topic === 'lora/hw0/dn/status' && m.body.id === 'hw')?.body;
    assert.equal(s?.status, 'sent', JSON.stringify(s));
    await waitReady(g, 'hw0');
    assert.equal(g.metric('hw0/recoveries'), 0);
  });

  test('a frame from a node is published', { skip: waitFrame > 0 ? undefined : 'set FIELDGATE_HW_WAIT_FRAME=<seconds> and transmit from a node on the same radio settings' }, async () => {
    process.stdout.write(`# transmit from a node now (${waitFrame} s)\n`);
    await until(() => g.got.some((m) => m.topic === 'lora/hw0/up'), 'a frame from a node', waitFrame * 1000);
  });
});

// NB-IoT (bc95 | bg96), protocol raw. Optional: FIELDGATE_HW_NBIOT_APN, FIELDGATE_HW_NBIOT_PORT (default
// 5683), FIELDGATE_HW_NBIOT_ATTACH_S (seconds to wait for registration, default 180),
// FIELDGATE_HW_WAIT_DATAGRAM=<seconds> to also wait for a datagram from a device you trigger by hand
// and send one back to it.
describe('modem adapter on real hardware (NB-IoT)', { skip: skip ?? (isNbiot ? undefined : 'FIELDGATE_HW_MODEM_TYPE is a LoRa module') }, () => {
  let g: ModemTestGateway;
  const attachS = Number(process.env.FIELDGATE_HW_NBIOT_ATTACH_S ?? 180);
  const waitDatagram = Number(process.env.FIELDGATE_HW_WAIT_DATAGRAM ?? 0);
  const port = Number(process.env.FIELDGATE_HW_NBIOT_PORT ?? 5683);

  before(async () => {
    g = await startModemGateway(
      [
        {
          name: 'hw0',
          type,
          path,
          ...(process.env.FIELDGATE_HW_MODEM_BAUD ? { baud: Number(process.env.FIELDGATE_HW_MODEM_BAUD) } : {}),
          nbiot: { listen_port: port, protocol: 'raw', ...(process.env.FIELDGATE_HW_NBIOT_APN ? { apn: process.env.FIELDGATE_HW_NBIOT_APN } : {}) },
          // Real modules: the adapter's defaults, quicker health reads.
          timeouts: { command: '1s', reboot: '30s', network: '60s' },
          probe_interval: '5s',
          health_interval: '5s',
        },
      ],
      ['nbiot/#'],
    );
  });
  after(async () => {
    await g?.stop();
  });

  test('registers on the network and opens the UDP socket', async () => {
    process.stdout.write(`# waiting up to ${attachS} s for registration\n`);
    await until(() => g.metric('hw0/ready') === 1, 'registered with the socket open', attachS * 1000);
    assert.ok(g.logs.some((l) => /^modem hw0 (ready|: on the network after)/.test(l.msg)), 'ready line logged');
    assert.equal(g.metric('hw0/socket/open'), 1);
  });

  test('health: signal, registration, operator and address are published', async () => {
    await until(() => g.got.some((m) => m.topic === 'nbiot/hw0/status' && m.body.registered === true), 'a status message', 30_000);
    const s = g.got.filter((m) => m.topic === 'nbiot/hw0/status').at(-1)?.body;
    process.stdout.write(`# status: ${JSON.stringify(s)}\n`);
    assert.equal(typeof s?.address, 'string', 'the module has an address');
    assert.ok(g.metric('hw0/signal/csq') < 99, 'a signal reading');
    assert.equal(g.metric('hw0/recoveries'), 0);
  });

  test('a datagram over the module limit is refused before it reaches the module', async () => {
    await g.mq.publishAsync('nbiot/hw0/192.0.2.1/dn', JSON.stringify({ payload: 'ab'.repeat(1461), port: 9 }), { qos: 1 });
    await until(() => g.metric('hw0/datagrams/refused/too_large') === 1, 'refusal counted');
    assert.ok(g.logs.some((l) => /datagram of 1461 bytes to 192\.0\.2\.1:9 refused/.test(l.msg)));
  });

  test('a datagram from a device is published and one goes back to it', { skip: waitDatagram > 0 ? undefined : 'set FIELDGATE_HW_WAIT_DATAGRAM=<seconds> and send UDP from a device on the APN to the module address' }, async () => {
    process.stdout.write(`# send a UDP datagram to the module's address, port ${port}, now (${waitDatagram} s)\n`);
    await until(() => g.got.some((m) => /^nbiot\/hw0\/[^/]+\/up$/.test(m.topic)), 'a datagram from a device', waitDatagram * 1000);
    const up = g.got.find((m) => /^nbiot\/hw0\/[^/]+\/up$/.test(m.topic))!;
    await g.mq.publishAsync(up.topic.replace(/\/up$/, '/dn'), JSON.stringify({ payload: '6877746573' }), { qos: 1 });
    await until(() => g.metric('hw0/datagrams/sent') === 1, 'the reply handed to the module', 60_000);
  });
});
