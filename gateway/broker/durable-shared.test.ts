import assert from 'node:assert/strict';
import { cpSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { startChild, stopChild } from '../test/cli.ts';
import { startGateway, tempDir, until, type TestGateway } from '../test/helpers.ts';
import { DurablePersistence } from './durable-persistence.ts';
import { SharedSubscriptions } from './shared.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, publishAcked, publishPacket, recordPublishes } from '../test/raw-mqtt.ts';
import { journalFile, journalGenerations } from './durable-journal.ts';

// Issue 17 items 12 and 13 together: a QoS 1 message acknowledged to its publisher and in flight
// (sent, no PUBACK) to a persistent member of a shared subscription when the gateway is killed
// (-9). The member got it through its own session queue (aedes queues a QoS 1 delivery for a
// clean-session-0 client before writing it), so it is on disk: the member gets it again when it
// reconnects; and the member's shared subscription is still in force after the restart.
// The second test: a kill -9 right after the publisher's PUBACK, before the member's delivery
// (the member is picked before the PUBACK, so its copy is already on disk).
// Then the hand-off across a restart: the member's copy is tagged with its group on disk (ENQ
// record `g`), so a member that never comes back has its messages handed to another member once
// the bound passes (broker.shared_redispatch_after here; its session's expiry by default), after
// kill -9 and after SIGTERM; a member that does come back gets them itself and no other member
// does; and a torn journal tail through the new records costs only what it cut.

const tmp = tempDir('fieldgate-durable-shared-');
after(() => tmp.remove());

function writeConfig(name: string, broker = ''): string {
  const config = join(tmp.path, `${name}.yaml`);
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, name)}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n${broker}  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  return config;
}

/** A persistent member that records every PUBLISH it gets and PUBACKs those `ack` accepts. */
async function member(port: number, clientId: string, ack: (payload: string) => boolean, subscribe = true) {
  const { client, sessionPresent } = await RawClient.connect(port, { clientId, clean: false });
  if (subscribe) assert.deepEqual(await client.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
  const got = recordPublishes(client, ack);
  return { client, got, sessionPresent };
}

const publish = publishAcked;

/**
 * Reconnects worker-b (persistent) with its will step held by `hold`: aedes has restored its
 * subscriptions then and not yet sent its queue. It must get job one exactly once (job two,
 * published afterwards, marks that everything written before it has arrived).
 */
async function reconnectHeldGetsOnce(g: TestGateway, hold: () => Promise<unknown>): Promise<void> {
  const delWill = DurablePersistence.prototype.delWill;
  DurablePersistence.prototype.delWill = async function (this: DurablePersistence, client) {
    if (client.id === 'worker-b') await hold();
    return delWill.call(this, client);
  };
  let b2: Awaited<ReturnType<typeof member>>;
  try {
    b2 = await member(g.port, 'worker-b', () => true, false);
  } finally {
    DurablePersistence.prototype.delWill = delWill;
  }
  assert.equal(b2.sessionPresent, true);
  await until(() => b2.got.includes('job one'), 'job one at worker-b');
  await publish(g.port, 'pub2', ['job two']);
  await until(() => b2.got.includes('job two'), 'job two at worker-b');
  assert.deepEqual(b2.got, ['job one', 'job two'], 'job one once');
  b2.client.end();
}

test('kill -9 with a QoS 1 message in flight to a persistent shared-subscription member: the member comes back within the bound and gets it again, the other member never does', async () => {
  const config = writeConfig('returns'); // the bound: the session's expiry (2 h)
  let gw = await startChild(config);
  try {
    const port = () => Number(new URL(gw.url).port);
    const a = await member(port(), 'worker-1', () => false); // never PUBACKs
    const b = await member(port(), 'worker-2', () => true);
    await publish(port(), 'pub', ['job one', 'job two']); // round robin: one each
    await until(() => a.got.length === 1 && b.got.length === 1, 'one job at each member');
    assert.deepEqual(a.got, ['job one']);
    await stopChild(gw.child, 'SIGKILL');

    gw = await startChild(config);
    const b2 = await member(port(), 'worker-2', () => true, false);
    const again = await member(port(), 'worker-1', () => true, false);
    assert.equal(again.sessionPresent, true);
    await until(() => again.got.includes('job one'), 'job one resent to its member');
    // Its shared subscription survived the restart with the session: new jobs reach it, and B.
    await publish(port(), 'pub2', ['job three', 'job four']);
    await until(() => [...again.got, ...b2.got].filter((j) => j === 'job three' || j === 'job four').length === 2, 'the new jobs');
    assert.ok(!b2.got.includes('job one'), `B never gets A's job: ${b2.got}`);
    assert.deepEqual(again.got.filter((j) => j === 'job one'), ['job one']);
    b2.client.end();
    again.client.end();
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});

for (const signal of ['SIGKILL', 'SIGTERM'] as const) {
  test(`${signal} with a QoS 1 message in flight to a persistent member that never comes back: another member gets it once broker.shared_redispatch_after passes after the restart, once`, async () => {
    const config = writeConfig(`gone-${signal}`, '  shared_redispatch_after: 300ms\n');
    let gw = await startChild(config);
    try {
      const port = () => Number(new URL(gw.url).port);
      const a = await member(port(), 'worker-a', () => false); // never PUBACKs, never returns
      const b = await member(port(), 'worker-b', () => true);
      await publish(port(), 'pub', ['job one', 'job two']);
      await until(() => a.got.length === 1 && b.got.length === 1, 'one job at each member');
      assert.deepEqual(a.got, ['job one']);
      await stopChild(gw.child, signal);

      gw = await startChild(config);
      const b2 = await member(port(), 'worker-b', () => true, false);
      assert.equal(b2.sessionPresent, true);
      await until(() => b2.got.includes('job one'), 'A\'s job handed to B after the bound');
      await publish(port(), 'pub2', ['job three']); // only B is connected: B gets it, after A's
      await until(() => b2.got.includes('job three'), 'job three at B');
      assert.deepEqual(b2.got.filter((j) => j === 'job one'), ['job one'], `once: ${b2.got}`);
      // A's queue no longer holds it: back now, A gets the next live job and never job one.
      const a2 = await member(port(), 'worker-a', () => true, false);
      await publish(port(), 'pub3', ['job four', 'job five']);
      await until(() => a2.got.length > 0 && [...a2.got, ...b2.got].filter((j) => j === 'job four' || j === 'job five').length === 2, 'the last jobs');
      assert.ok(!a2.got.includes('job one'), `A does not get job one again: ${a2.got}`);
      b2.client.end();
      a2.client.end();
    } finally {
      await stopChild(gw.child, 'SIGKILL');
    }
  });
}

test('kill -9 between the PUBACK and the delivery: a QoS 1 message for a persistent member of a shared group is on disk before its PUBACK, and stored once', async () => {
  const g = await startGateway({ broker: { shared_subscription_strategy: 'round_robin' } });
  const images: string[] = [];
  // The moment aedes writes the PUBACK (it waits for authorizePublish, which waits for this):
  // the directory as a kill -9 right after the PUBACK would leave it.
  const beforeAck = DurablePersistence.prototype.beforeAck;
  DurablePersistence.prototype.beforeAck = async function (this: DurablePersistence, ...args: Parameters<typeof beforeAck>) {
    await beforeAck.apply(this, args);
    const image = join(tmp.path, `image-${images.length}`);
    cpSync(join(g.dataDir, 'broker'), image, { recursive: true });
    images.push(image);
  };
  try {
    const w: RawClient[] = [];
    for (const id of ['worker-a', 'worker-b']) {
      const { client } = await RawClient.connect(g.port, { clientId: id, clean: false });
      assert.deepEqual(await client.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
      w.push(client);
    }
    const pub = (await RawClient.connect(g.port, { clientId: 'pub' })).client;
    const got: Record<string, string> = {};
    for (const job of ['job one', 'job two']) {
      pub.send(publishPacket('jobs/x', job, 1, 1));
      await pub.next(PUBACK);
      // Round robin: each job to one member, which never PUBACKs it.
      await until(() => w.some((c) => c.packets.some((p) => p.type === PUBLISH)), `${job} delivered`);
      const k = w.findIndex((c) => c.packets.some((p) => p.type === PUBLISH));
      got[k === 0 ? 'worker-a' : 'worker-b'] = parsePublish(await w[k]!.next(PUBLISH)).payload.toString();
    }
    assert.deepEqual(Object.values(got).sort(), ['job one', 'job two'], 'one job to each member');
    // The copy queued before the PUBACK is the one delivered, not a second one.
    for (const id of ['worker-a', 'worker-b']) assert.deepEqual(g.gw.broker.sessionQueue(id), { queued: 0, inflight: 1 }, id);
    pub.end();
    for (const c of w) c.end();
    // Restart from each image: each job is queued for the member it went to, and only there.
    const log = { info: () => {}, warn: () => {}, error: () => {} };
    for (const [k, image] of images.entries()) {
      const q = new DurablePersistence({ dir: image, log, maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
      await q.setup({ id: 'fieldgate' });
      const sent = ['job one', 'job two'].slice(0, k + 1); // published by then, none PUBACKed by its member
      for (const id of ['worker-a', 'worker-b']) {
        const queued: string[] = [];
        for await (const m of q.outgoingStream({ id })) queued.push(String((m as { payload: Buffer }).payload));
        assert.deepEqual(queued, sent.filter((j) => got[id] === j), `image at the PUBACK of ${sent.at(-1)}, ${id}`);
      }
      await q.close();
    }
  } finally {
    DurablePersistence.prototype.beforeAck = beforeAck;
    await g.stop();
  }
});

test('the member picked before the PUBACK disconnects before the delivery: the message waits in its queue for it, and goes to no other member', async () => {
  const g = await startGateway({ broker: { shared_subscription_strategy: 'round_robin' } });
  let member: RawClient | undefined;
  const beforeAck = DurablePersistence.prototype.beforeAck;
  DurablePersistence.prototype.beforeAck = async function (this: DurablePersistence, ...args: Parameters<typeof beforeAck>) {
    await beforeAck.apply(this, args);
    // worker-a was picked (round robin, first to join); it goes away before aedes publishes.
    const gone = once(g.gw.broker, 'disconnected');
    member!.socket.destroy();
    await gone;
  };
  try {
    member = (await RawClient.connect(g.port, { clientId: 'worker-a', clean: false })).client;
    assert.deepEqual(await member.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const other = (await RawClient.connect(g.port, { clientId: 'worker-b', clean: false })).client;
    assert.deepEqual(await other.subscribe(1, [['$share/workers/jobs/#', 1]]), [1]);
    const pub = (await RawClient.connect(g.port, { clientId: 'pub' })).client;
    pub.send(publishPacket('jobs/x', 'job one', 1, 1));
    await pub.next(PUBACK);
    DurablePersistence.prototype.beforeAck = beforeAck;
    pub.send(publishPacket('jobs/x', 'job two', 1, 2)); // worker-b's turn; also a marker: job one was handled before it
    await pub.next(PUBACK);
    assert.equal(parsePublish(await other.next(PUBLISH)).payload.toString(), 'job two');
    assert.equal(other.packets.filter((p) => p.type === PUBLISH).length, 0, 'job one did not go to worker-b');
    assert.deepEqual(g.gw.broker.sessionQueue('worker-a'), { queued: 1, inflight: 0 });
    const back = await RawClient.connect(g.port, { clientId: 'worker-a', clean: false });
    assert.equal(parsePublish(await back.client.next(PUBLISH)).payload.toString(), 'job one');
    pub.end();
    other.end();
    back.client.end();
  } finally {
    DurablePersistence.prototype.beforeAck = beforeAck;
    await g.stop();
  }
});

test('a torn journal tail through the hand-off records: what is before the tear keeps its group; a torn SHARE_TAKE leaves its message with its member, to be handed on again', async () => {
  const dir = join(tmp.path, 'torn');
  const warnings: string[] = [];
  const log = { info: () => {}, warn: (...args: unknown[]) => void warnings.push(String(args[1])), error: () => {} };
  const open = async (at: string) => {
    const q = new DurablePersistence({ dir: at, log, maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
    await q.setup({ id: 'fieldgate' });
    return q;
  };
  const group = 'workers\u0000jobs/#';
  const q = await open(dir);
  const journal = () => journalFile(dir, journalGenerations(dir).at(-1)!);
  let n = 0;
  const enqueue = (job: string) =>
    q.shareTags.during('worker-a', group, () => q.outgoingEnqueue({ clientId: 'worker-a' }, { cmd: 'publish', topic: 'jobs/x', payload: Buffer.from(job), qos: 1, brokerId: 'test', brokerCounter: ++n }));
  await enqueue('m1');
  await enqueue('m2');
  const afterTwo = statSync(journal()).size;
  await enqueue('m3');
  const afterThree = statSync(journal()).size;
  assert.deepEqual(q.takeShared('worker-a', (h) => String(h.packet.payload) === 'm1').map((h) => h.group), [group]); // handed to another member
  await q.close();
  const afterTake = statSync(journal()).size;
  assert.ok(afterTwo < afterThree && afterThree < afterTake);

  /** Reopens a copy of the store cut at `size` bytes of the journal; the tagged messages of worker-a, in queue order. */
  const cutAt = async (name: string, size?: number, from = dir) => {
    const at = join(tmp.path, name);
    cpSync(from, at, { recursive: true });
    if (size !== undefined) truncateSync(journalFile(at, journalGenerations(at).at(-1)!), size);
    warnings.length = 0;
    const r = await open(at);
    const tagged = r.takeShared('worker-a', () => true).map((h) => `${h.packet.payload}@${h.group === group}`);
    await r.close();
    return { tagged, warnings: [...warnings] };
  };
  const whole = await cutAt('torn-none');
  assert.deepEqual(whole, { tagged: ['m2@true', 'm3@true'], warnings: [] });
  // Through a snapshot (each start writes one): the group is in its ENQ records too.
  cpSync(dir, join(tmp.path, 'snap'), { recursive: true });
  await (await open(join(tmp.path, 'snap'))).close();
  assert.deepEqual(journalGenerations(join(tmp.path, 'snap')).map((g) => statSync(journalFile(join(tmp.path, 'snap'), g)).size), [], 'all in the snapshot');
  assert.deepEqual(await cutAt('snap-reopened', undefined, join(tmp.path, 'snap')), whole);
  const take = await cutAt('torn-take', afterThree + Math.floor((afterTake - afterThree) / 2));
  assert.deepEqual(take.tagged, ['m1@true', 'm2@true', 'm3@true'], 'the take was torn: m1 is still worker-a\'s, and goes to another member again');
  assert.match(take.warnings.join('\n'), /ends in \d+ unreadable bytes .*replayed the 3 whole records/);
  const enq = await cutAt('torn-enq', afterTwo + Math.floor((afterThree - afterTwo) / 2));
  assert.deepEqual(enq.tagged, ['m1@true', 'm2@true'], 'the tear cost m3 (never acknowledged: its record was not on disk) and nothing before it');
  assert.match(enq.warnings.join('\n'), /ends in \d+ unreadable bytes .*replayed the 2 whole records/);
});

test('a hand-off while the new member is still connecting (its subscriptions restored, its queue not yet sent): it gets the message once, from its queue', async () => {
  const g = await startGateway({ broker: { shared_redispatch_after: '100ms' } });
  try {
    const b = await member(g.port, 'worker-b', () => true);
    const gone = once(g.gw.broker, 'disconnected');
    b.client.end();
    await gone;
    const a = await member(g.port, 'worker-a', () => false); // the only member connected: gets job one, never PUBACKs
    await publish(g.port, 'pub', ['job one']);
    await until(() => a.got.includes('job one'), 'job one at worker-a');
    const aGone = once(g.gw.broker, 'disconnected');
    a.client.destroy(); // offline from now; no member connected, so job one stays with it
    await aGone;
    // aedes connects a persistent session in steps: subscriptions restored (worker-b is a member of
    // the group again), will, CONNACK, then its queue sent. Between the first and the last, the
    // timer hands worker-a's job on to worker-b (the seam: worker-b's will step waits for that).
    await reconnectHeldGetsOnce(g, () => until(() => g.gw.broker.sessionQueue('worker-a').inflight + g.gw.broker.sessionQueue('worker-a').queued === 0, 'job one handed on'));
  } finally {
    await g.stop();
  }
});

test('a live QoS 1 message picked for a member that is still connecting (its subscriptions restored, its queue not yet sent): it gets it once, from its queue', async () => {
  const g = await startGateway({ broker: { shared_subscription_strategy: 'round_robin' } });
  try {
    const b = await member(g.port, 'worker-b', () => true);
    const gone = once(g.gw.broker, 'disconnected');
    b.client.end();
    await gone;
    // The seam: worker-b's will step (after its subscriptions are restored, before its queue is
    // sent) waits for a publish: worker-b, the only member, is picked before the PUBACK.
    await reconnectHeldGetsOnce(g, () => publish(g.port, 'pub', ['job one']));
  } finally {
    await g.stop();
  }
});

test('a member that reconnects and is still being sent its queue when broker.shared_redispatch_after passes: it gets its message once, no other member does', async () => {
  const g = await startGateway({ broker: { shared_redispatch_after: '100ms' } });
  // The seams: worker-a's queue send (aedes's outgoingUpdate per queued message, after it took the
  // queue and before it writes the message) is held as a slow reader would hold it, until a tick
  // of the hand-off timer has run with worker-a offline longer than the bound (the timer is
  // private: its method is wrapped to count those ticks).
  const outgoingUpdate = DurablePersistence.prototype.outgoingUpdate;
  const timer = SharedSubscriptions.prototype as unknown as { handOffOffline(this: { offline: Map<string, number> }, after: number): void };
  const tick = timer.handOffOffline;
  let dueTicks = 0;
  timer.handOffOffline = function (after) {
    const since = this.offline.get('worker-a');
    const due = since !== undefined && Date.now() - since >= after;
    tick.call(this, after);
    if (due) dueTicks++;
  };
  try {
    const b = await member(g.port, 'worker-b', () => true);
    const bGone = once(g.gw.broker, 'disconnected');
    b.client.end();
    await bGone;
    const a = await member(g.port, 'worker-a', () => false); // the only member: gets job one, never PUBACKs it
    await publish(g.port, 'pub', ['job one']);
    await until(() => a.got.includes('job one'), 'job one at worker-a');
    const aGone = once(g.gw.broker, 'disconnected');
    a.client.destroy(); // offline from now; no member connected, so job one stays with it
    await aGone;

    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    DurablePersistence.prototype.outgoingUpdate = async function (this: DurablePersistence, client, packet) {
      if (client.id === 'worker-a') await held;
      return outgoingUpdate.call(this, client, packet);
    };
    const a2 = await member(g.port, 'worker-a', () => true, false); // CONNACK sent; its queue (job one) held
    // worker-b back (and ready, its queue sent): a connected member the timer could hand job one to.
    const bReady = once(g.gw.broker, 'connected');
    const b2 = await member(g.port, 'worker-b', () => true, false);
    await bReady;
    dueTicks = 0;
    await until(() => dueTicks > 1, 'the hand-off timer past the bound for worker-a');
    release();
    await until(() => a2.got.includes('job one'), 'job one at worker-a');
    DurablePersistence.prototype.outgoingUpdate = outgoingUpdate;
    await publish(g.port, 'pub2', ['job two', 'job three']); // markers, one each (round robin): anything written before them has arrived
    await until(() => [...a2.got, ...b2.got].filter((j) => j !== 'job one').length === 2, 'the markers');
    assert.equal(a2.got.filter((j) => j === 'job one').length, 1, 'job one once at worker-a');
    assert.ok(!b2.got.includes('job one'), `worker-b got ${JSON.stringify(b2.got)}: job one was handed on while worker-a was sent it`);
    a2.client.end();
    b2.client.end();
  } finally {
    DurablePersistence.prototype.outgoingUpdate = outgoingUpdate;
    timer.handOffOffline = tick;
    await g.stop();
  }
});
