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
const skip = !path || !type ? 'needs a LoRa module: set FIELDGATE_HW_MODEM (serial port path) and FIELDGATE_HW_MODEM_TYPE (rak3172 | rn2483)' : undefined;
if (skip) process.stdout.write(`# hw-test/modem: skipped: ${skip}\n`);

describe('modem adapter on real hardware', { skip }, () => {
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
