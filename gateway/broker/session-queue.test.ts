import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test } from 'node:test';
import { createBoundedPersistence } from './session-queue.ts';

// Issue 11 item 8: the bounded session persistence is run through aedes-persistence's own abstract
// test suite (the conformance tests every aedes persistence passes), with bounds far above what
// the suite stores, so the contract is checked unchanged. The bounds themselves are tested in
// session-bounds.test.ts and test/broker.test.ts.

const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: { test: typeof test; persistence: () => unknown; testAsync: boolean }) => void;

abstractPersistence({
  test,
  persistence: () => createBoundedPersistence({ maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {} }),
  testAsync: true,
});

test('two QoS 2 messages in flight to one session: each PUBREL replaces its own message, found by packet id', async () => {
  const p = createBoundedPersistence({ maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
  const client = { id: 'dev' };
  const msg = (n: number) => ({ cmd: 'publish', topic: 'cmd/dev', payload: Buffer.from(`m${n}`), qos: 2, brokerId: 'b', brokerCounter: n });
  await p.outgoingEnqueueCombi([{ clientId: 'dev' }], msg(1) as never);
  await p.outgoingEnqueueCombi([{ clientId: 'dev' }], msg(2) as never);
  await p.outgoingUpdate(client, { ...msg(1), messageId: 11 } as never);
  await p.outgoingUpdate(client, { ...msg(2), messageId: 12 } as never);
  await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 11 } as never);
  await p.outgoingUpdate(client, { cmd: 'pubrel', messageId: 12 } as never);
  const queued = (await p.outgoingStream(client).toArray()) as { cmd?: string; messageId?: number }[];
  assert.deepEqual(queued.map((x) => `${x.cmd}:${x.messageId}`), ['pubrel:11', 'pubrel:12']);
  assert.equal(((await p.outgoingClearMessageId(client, { messageId: 11 })) as { cmd?: string } | undefined)?.cmd, 'pubrel');
  assert.equal(((await p.outgoingClearMessageId(client, { messageId: 12 })) as { cmd?: string } | undefined)?.cmd, 'pubrel');
  assert.equal(p.queuedTotal(), 0);
});
