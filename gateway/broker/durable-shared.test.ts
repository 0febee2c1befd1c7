import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startChild, stopChild } from '../test/cli.ts';
import { tempDir } from '../test/helpers.ts';
import { DurablePersistence } from './durable-persistence.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 items 12 and 13 together: a QoS 1 message acknowledged to its publisher and in flight
// (sent, no PUBACK) to a persistent member of a shared subscription when the gateway is killed
// (-9). The member got it through its own session queue (aedes queues a QoS 1 delivery for a
// clean-session-0 client before writing it), so it is on disk: the member gets it again when it
// reconnects; and the member's shared subscription is still in force after the restart.
// The second test pins down the one window that is not covered (docs/broker.md, Persistence).

const tmp = tempDir('fieldgate-durable-shared-');
after(() => tmp.remove());

test('kill -9 with a QoS 1 message in flight to a persistent shared-subscription member: the member gets it again after the restart, and further messages', async () => {
  const config = join(tmp.path, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  let gw = await startChild(config);
  try {
    const port = () => Number(new URL(gw.url).port);
    const member = (await RawClient.connect(port(), { clientId: 'worker-1', clean: false })).client;
    assert.deepEqual(await member.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const pub = (await RawClient.connect(port(), { clientId: 'pub' })).client;
    pub.send(publishPacket('jobs/1', 'job one', 1, 1));
    await pub.next(PUBACK); // acknowledged to the publisher
    const first = parsePublish(await member.next(PUBLISH)); // in flight: the member never PUBACKs
    assert.equal(first.payload.toString(), 'job one');
    await stopChild(gw.child, 'SIGKILL');

    gw = await startChild(config);
    const again = await RawClient.connect(port(), { clientId: 'worker-1', clean: false });
    assert.equal(again.sessionPresent, true);
    const resent = parsePublish(await again.client.next(PUBLISH));
    assert.equal(resent.payload.toString(), 'job one');
    again.client.send(pubackPacket(resent.id!));
    // Its shared subscription survived the restart with the session: a new job reaches it.
    const pub2 = (await RawClient.connect(port(), { clientId: 'pub2' })).client;
    pub2.send(publishPacket('jobs/2', 'job two', 1, 1));
    await pub2.next(PUBACK);
    assert.equal(parsePublish(await again.client.next(PUBLISH, 5000)).payload.toString(), 'job two');
    pub2.end();
    again.client.end();
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});

test('known gap: between the PUBACK and the member being picked, a QoS 1 message for a shared group is not on disk', async () => {
  const dir = join(tmp.path, 'gap');
  const log = { info: () => {}, warn: () => {}, error: () => {} };
  const open = (d: string) => new DurablePersistence({ dir: d, log, maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
  const p = open(dir);
  await p.setup({ id: 'fieldgate' });
  await p.addSubscriptions({ id: 'worker-1', clean: false }, [{ topic: '$share/workers/jobs/#', qos: 1 }]);
  // What the PUBACK waits for (authorizePublish): the member is picked only when aedes delivers it.
  await p.beforeAck({ cmd: 'publish', topic: 'jobs/1', payload: Buffer.from('job one'), qos: 1, retain: false, dup: false, messageId: 1 } as never);
  const image = join(tmp.path, 'gap-image'); // kill -9 here
  cpSync(dir, image, { recursive: true });
  await p.close();
  const q = open(image);
  await q.setup({ id: 'fieldgate' });
  const queued = [];
  for await (const m of q.outgoingStream({ id: 'worker-1' })) queued.push(m);
  assert.deepEqual(queued, [], 'lost for the group (documented); a fix makes this hold the message');
  await q.close();
});
