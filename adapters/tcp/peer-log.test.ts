// Issue 17 item 10: a remote peer does not decide how much is written to the log. Every line a
// device can repeat by reconnecting (malformed connection, refused login) is written once per
// address (not address:port: each connection has a new port) and reason per minute; the rest are
// counted and written out with the count, at the latest when the adapter stops.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { LogLine } from '../../gateway/test/helpers.ts';
import { RawDevice, hex, startTcpGateway } from './test-kit.ts';

const N = 30;

test('garbage connections from one address: one line, then "... and N-1 more"', async () => {
  const lines: LogLine[] = [];
  const g = await startTcpGateway({}, {}, lines);
  try {
    for (let i = 0; i < N; i++) {
      const d = await RawDevice.open(g.tcpPort);
      d.write(Buffer.from('\xff\xff\xff\xff garbage garbage', 'latin1'));
      await d.closedWithin();
    }
    const first = lines.filter((l) => /^closing tcp connection from /.test(l.msg));
    assert.equal(first.length, 1, lines.map((l) => l.msg).join('\n'));
    assert.match(first[0]!.msg, /^closing tcp connection from 127\.0\.0\.1:\d+: \w+/);
    assert.equal(first[0]!.ipaddress, '127.0.0.1');
  } finally {
    await g.stop();
  }
  const reason = lines.find((l) => /^closing tcp connection/.test(l.msg))!.reason as string;
  const more = lines.filter((l) => l.msg === `... and ${N - 1} more "${reason}" from 127.0.0.1 in the last 60 s`);
  assert.equal(more.length, 1, lines.map((l) => l.msg).join('\n'));
});

test('refused logins from one address: one line per reason, the rest counted', async () => {
  const lines: LogLine[] = [];
  const g = await startTcpGateway({}, { auth: { allow_anonymous: 'never' } }, lines);
  try {
    for (let i = 0; i < N; i++) {
      const d = await RawDevice.open(g.tcpPort);
      d.write(hex('11 00 07 3c 00 04 61 62 63 64')); // v1 CONNECT "abcd", no credentials
      assert.equal((await d.read(1)).toString('hex'), '21'); // CONNACK code 1: refused
      await d.closedWithin();
    }
    const refused = lines.filter((l) => /^tcp device abcd refused/.test(l.msg));
    const reasons = new Set(refused.map((l) => l.reason));
    assert.equal(refused.length, reasons.size, refused.map((l) => l.msg).join('\n'));
  } finally {
    await g.stop();
  }
  const counted = lines.filter((l) => /^\.\.\. and \d+ more "\w+" from 127\.0\.0\.1 in the last 60 s$/.test(l.msg)).reduce((n, l) => n + (l.more as number), 0);
  const firsts = lines.filter((l) => /^tcp device abcd refused/.test(l.msg)).length;
  assert.equal(firsts + counted, N, lines.map((l) => l.msg).join('\n'));
});
