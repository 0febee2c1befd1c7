import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCapturedGateway, type LogLine } from '../bridge/test/captured-gateway.ts';
import { tempDir } from '../test/helpers.ts';
import { RawClient, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 item 10: a remote peer does not decide how much is written to the log.

test('refused logins and malformed publishes from one peer: one line each per minute, the rest counted', async () => {
  const dir = tempDir('fieldgate-peerlog-');
  const lines: LogLine[] = [];
  const { gw, port } = await startCapturedGateway({ gateway: { data_dir: dir.path }, auth: { allow_anonymous: 'never' } }, lines);
  try {
    for (let i = 0; i < 60; i++) {
      const { client, code } = await RawClient.connect(port, { clientId: `anon${i}` });
      assert.equal(code, 5);
      client.destroy();
    }
    const refused = lines.filter((l) => /MQTT connect refused/.test(l.msg));
    assert.equal(refused.length, 1, refused.map((l) => l.msg).join('\n'));
    assert.equal(refused[0]!.reason, 'not_authorized');
    assert.equal(refused[0]!.ipaddress, '127.0.0.1');
  } finally {
    await gw.stop();
  }
  // What was held back is written out (at the latest when the broker stops), with the count.
  const more = lines.filter((l) => /and 59 more "not_authorized" from 127\.0\.0\.1 in the last 60 s/.test(l.msg));
  assert.equal(more.length, 1, lines.map((l) => l.msg).join('\n'));
  dir.remove();
});

test('malformed packets: the first per peer is logged, the rest counted', async () => {
  const dir = tempDir('fieldgate-peerlog2-');
  const lines: LogLine[] = [];
  const { gw, port } = await startCapturedGateway({ gateway: { data_dir: dir.path } }, lines);
  try {
    for (let i = 0; i < 30; i++) {
      const { client } = await RawClient.connect(port, { clientId: `bad${i}` });
      client.send(publishPacket(Buffer.from('a\u0000b'), 'x', 1, 1));
      await client.waitClosed();
    }
    assert.equal(lines.filter((l) => /U\+0000/.test(l.msg)).length, 1);
  } finally {
    await gw.stop();
  }
  assert.ok(lines.some((l) => /and 29 more "protocol_error"/.test(l.msg)));
  dir.remove();
});
