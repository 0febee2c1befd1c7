import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startCapturedGateway, type LogLine } from '../bridge/test/captured-gateway.ts';
import { tempDir, until } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 item 2, scaled down (the 4,000-session / 1.2 M-message attack under the Pi's heap flag is
// `npm run bench -- session-flood`): any client that may connect could open persistent sessions
// and let messages pile up for them until the heap ran out. Sessions are bounded in count, in
// queued bytes per session and in total, and expire.

async function persistentSession(port: number, id: string, filter = 'load/#'): Promise<void> {
  const { client, code } = await RawClient.connect(port, { clientId: id, clean: false });
  assert.equal(code, 0, `session ${id}`);
  assert.deepEqual(await client.subscribe(1, [[filter, 1]]), [1]);
  client.end();
  await client.waitClosed();
}

test('persistent sessions are bounded in count and queued bytes; overflow is dropped with counts and one line; the broker keeps serving', async () => {
  const dir = tempDir('fieldgate-sessions-');
  const lines: LogLine[] = [];
  const { gw, port } = await startCapturedGateway({
    gateway: { data_dir: dir.path },
    broker: { max_sessions: 40, max_session_queue_bytes: '8KB', max_queued_bytes: '64KB', max_queued_messages: 1000 },
  }, lines);
  try {
    for (let i = 0; i < 40; i++) await persistentSession(port, `s${i}`);
    // The 41st persistent session is refused (CONNACK 3); a clean session and a known id still get in.
    const extra = await RawClient.connect(port, { clientId: 's40', clean: false });
    assert.equal(extra.code, 3);
    await extra.client.waitClosed();
    const clean = await RawClient.connect(port, { clientId: 'clean1', clean: true });
    assert.equal(clean.code, 0);
    clean.client.end();
    const back = await RawClient.connect(port, { clientId: 's0', clean: false });
    assert.equal(back.code, 0);
    assert.equal(back.sessionPresent, true);
    back.client.end();
    await back.client.waitClosed();

    // 200 QoS 1 messages of 300 bytes for 40 offline sessions: 8,000 copies, 4 MB unbounded.
    const pub = await RawClient.connect(port, { clientId: 'pub' });
    const payload = Buffer.alloc(300, 0x62);
    for (let i = 1; i <= 200; i++) {
      pub.client.send(publishPacket('load/x', payload, 1, i));
      await pub.client.next(PUBACK);
    }
    pub.client.end();
    const m = () => gw.metrics.snapshot();
    assert.ok((m()['messages/queued_bytes'] ?? 0) <= 64 * 1024, `queued ${m()['messages/queued_bytes']} bytes`);
    assert.ok((m()['messages/dropped/queue_full'] ?? 0) >= 8000 - 64 * 1024 / 500);
    const dropLines = lines.filter((l) => /session queue full/.test(l.msg));
    assert.ok(dropLines.length >= 1 && dropLines.length <= 2, `${dropLines.length} drop lines`);

    // A session gets back what its bound kept, newest last, and the broker serves as before.
    const s1 = await RawClient.connect(port, { clientId: 's1', clean: false });
    assert.equal(s1.sessionPresent, true);
    const got: number[] = [];
    await until(async () => {
      while (s1.client.packets.some((p) => p.type === PUBLISH)) {
        const p = parsePublish(await s1.client.next(PUBLISH));
        got.push(p.payload.length);
        if (p.id) s1.client.send(Buffer.from([0x40, 2, p.id >> 8, p.id & 255]));
      }
      return got.length > 0 && (m()['messages/queued'] ?? 0) < 200;
    }, 'the queued messages of s1');
    assert.ok(got.length >= 1 && got.length * 500 <= 8 * 1024, `s1 got ${got.length}`);
    s1.client.end();
  } finally {
    await gw.stop();
    dir.remove();
  }
});

test('an offline persistent session expires after session_expiry_interval: subscriptions and queue removed', async () => {
  const dir = tempDir('fieldgate-expiry-');
  const lines: LogLine[] = [];
  const { gw, port } = await startCapturedGateway({ gateway: { data_dir: dir.path }, broker: { session_expiry_interval: '300ms', max_sessions: 5 } }, lines);
  try {
    for (let i = 0; i < 5; i++) await persistentSession(port, `e${i}`);
    const pub = await RawClient.connect(port, { clientId: 'pub' });
    pub.client.send(publishPacket('load/x', 'queued', 1, 1));
    await pub.client.next(PUBACK);
    await until(() => (gw.metrics.snapshot()['sessions/expired'] ?? 0) === 5, 'all five sessions to expire');
    assert.equal(gw.metrics.snapshot()['messages/queued'], 0);
    const expiredLines = lines.filter((l) => /persistent sessions expired/.test(l.msg));
    assert.equal(expiredLines.reduce((n, l) => n + (l.expired as number), 0), 5);
    // The slots are free again, and the old session is gone.
    const again = await RawClient.connect(port, { clientId: 'e0', clean: false });
    assert.equal(again.code, 0);
    assert.equal(again.sessionPresent, false);
    again.client.end();
    const fresh = await RawClient.connect(port, { clientId: 'new-one', clean: false });
    assert.equal(fresh.code, 0);
    fresh.client.end();
    pub.client.end();
  } finally {
    await gw.stop();
    dir.remove();
  }
});
