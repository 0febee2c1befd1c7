import assert from 'node:assert/strict';
import { cpSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { PublishRejected } from '../core/message.ts';
import { tempDir, until } from '../test/helpers.ts';
import { fill, smallFilesystem, smallFsSkip } from '../test/small-fs.ts';
import { DurablePersistence } from './durable-persistence.ts';

// Issue 17 item 12 on a full disk (a real 1 MB tmpfs): the session store logs one line, refuses
// the QoS 1 messages it would have to keep instead of acknowledging what it cannot write, keeps
// everything it acknowledged, and writes again by itself once there is room.

const client = { id: 'dev1', clean: false };

function pub(topic: string, payload: string, counter: number) {
  return { cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false, brokerId: 'fieldgate', brokerCounter: counter };
}

test('a full disk: one line, QoS 1 messages refused (not acknowledged and lost), acknowledged ones kept, writing again once there is room', { skip: smallFsSkip() }, async (t) => {
  const fs = smallFilesystem();
  if (typeof fs === 'string') return t.skip(fs);
  const copy = tempDir('fieldgate-durable-full-');
  const lines = { info: [] as string[], error: [] as string[] };
  const log = { info: (_f: unknown, m: string) => lines.info.push(m), warn: () => {}, error: (_f: unknown, m: string) => lines.error.push(m) };
  const dir = join(fs.path, 'broker');
  const p = new DurablePersistence({ dir, log: log as never, maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {}, retryMs: 50 });
  try {
    await p.setup({ id: 'fieldgate' });
    await p.addSubscriptions(client, [{ topic: 'cmd/#', qos: 1 }]);
    const acked: string[] = [];
    for (let i = 1; i <= 20; i++) {
      await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('cmd/x', `before-${i}`, i));
      acked.push(`before-${i}`);
    }
    const filler = fill(fs.path);
    const refused: string[] = [];
    for (let i = 21; i <= 60; i++) {
      const payload = `full-${i}`;
      await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('cmd/x', payload, i)).then(
        () => acked.push(payload),
        (err: Error) => {
          assert.ok(err instanceof PublishRejected || (err as NodeJS.ErrnoException).code === 'ENOSPC', err.message);
          refused.push(payload);
        },
      );
    }
    // The journal's last page may take a few more before the first write fails; from then on
    // every one is refused.
    assert.ok(refused.length > 0, 'some refused');
    assert.deepEqual(refused, Array.from({ length: refused.length }, (_, k) => `full-${61 - refused.length + k}`));
    // An MQTT QoS 1 publish with the retain flag is refused before its PUBACK too.
    await assert.rejects(p.beforeAck({ ...pub('state/x', 'on', 0), retain: true }), (err: Error) => err instanceof PublishRejected && err.reason === 'unavailable');
    assert.equal(lines.error.length, 1, lines.error.join('\n'));
    assert.match(lines.error[0]!, /broker persistence: cannot write .*broker \(ENOSPC: disk full or read-only\?\); QoS 1\/2 messages for persistent sessions and retained QoS 1\/2 messages are refused/);

    unlinkSync(filler);
    await until(() => lines.info.some((l) => /writing to .* again/.test(l)), 'the store to write again');
    await p.outgoingEnqueueCombi([{ clientId: client.id }], pub('cmd/x', 'after', 100));
    acked.push('after');

    // What a restart (or kill -9) finds: every acknowledged message, none refused after the first
    // failed write (that one was in memory when its write failed: refused, and delivered too).
    cpSync(dir, copy.path, { recursive: true });
    const p2 = new DurablePersistence({ dir: copy.path, log: log as never, maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {} });
    await p2.setup({ id: 'fieldgate' });
    const got: string[] = [];
    for await (const m of p2.outgoingStream(client)) got.push(m.payload.toString());
    for (const a of acked) assert.ok(got.includes(a), `acknowledged ${a} kept`);
    assert.ok(got.filter((g) => refused.includes(g)).length <= 1, `refused ones: ${got.filter((g) => refused.includes(g)).join(', ')}`);
    await p2.close();
  } finally {
    await p.close();
    fs.remove();
    copy.remove();
  }
});
