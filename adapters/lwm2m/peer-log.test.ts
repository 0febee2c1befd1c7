// Issue 17 item 10: a device does not decide how much is written to the log. Lines it can repeat
// per packet (a refused publish of its Updates, a new source port) are written once per source
// address and reason per minute; the rest are counted and written out with the count, at the
// latest when the adapter stops. Over real UDP with the simulated device (firmware-sim/lwm2m).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLine } from '../../gateway/test/helpers.ts';
import { startLwm2m } from './test-support.ts';

const N = 20;

test('refused publishes and address changes from one device: one line each, then "... and N-1 more"', async () => {
  const lines: LogLine[] = [];
  // Registering is allowed (loopback), publishing its events is not: each Update's publish is refused.
  const g = await startLwm2m({ update_rate: 0 }, { auth: { acl: [{ permission: 'deny', action: 'publish', topics: ['lwm2m/#'] }] } }, lines);
  const msgs = () => lines.map((l) => l.msg).join('\n');
  try {
    const d = await g.device({ ep: 'chatty' });
    assert.equal(await d.register(), '2.01');
    for (let i = 1; i < N; i++) {
      await d.rebind(); // a new source port: "address changed"
      assert.equal(await d.update(), '2.04');
    }
    await new Promise<void>((r) => setImmediate(r));
    assert.equal(lines.filter((l) => l.msg === 'LwM2M publish refused').length, 1, msgs());
    assert.equal(lines.filter((l) => l.msg === 'LwM2M device address changed').length, 1, msgs());
    d.close();
  } finally {
    await g.stop();
  }
  // The register event and N-1 Update events were refused; the first line was the register's.
  assert.equal(lines.filter((l) => l.msg === `... and ${N - 1} more "publish_not_authorized" from 127.0.0.1 in the last 60 s`).length, 1, msgs());
  assert.equal(lines.filter((l) => l.msg === `... and ${N - 2} more "address_changed" from 127.0.0.1 in the last 60 s`).length, 1, msgs());
});
