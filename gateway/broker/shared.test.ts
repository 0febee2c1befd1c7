import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startGateway, until, type TestGateway } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';
import { parseShare } from './shared.ts';

// Issue 17 item 13: $share/{group}/{filter} and $queue/{filter}, EMQX's strategies, retained never
// to shared subscribers. Raw MQTT 3.1.1 bytes on the wire.

test('parseShare', () => {
  assert.deepEqual(parseShare('$share/g1/a/+/c'), { group: 'g1', filter: 'a/+/c' });
  assert.deepEqual(parseShare('$queue/a/#'), { group: '$queue', filter: 'a/#' });
  assert.equal(parseShare('$share/g1'), undefined);
  assert.equal(parseShare('$share//a'), undefined);
  assert.equal(parseShare('$share/g+/a'), undefined);
  assert.equal(parseShare('a/b'), undefined);
});

/** Members that count what they get (and PUBACK it). */
async function members(g: TestGateway, n: number, filter: string): Promise<{ got: string[][]; clients: RawClient[] }> {
  const got: string[][] = [];
  const clients: RawClient[] = [];
  for (let i = 0; i < n; i++) {
    const { client } = await RawClient.connect(g.port, { clientId: `m${i}-${filter}` });
    assert.deepEqual(await client.subscribe(1, [[filter, 1]]), [1]);
    const mine: string[] = [];
    got.push(mine);
    clients.push(client);
    client.socket.on('data', () => {
      for (let k = client.packets.findIndex((p) => p.type === PUBLISH); k >= 0; k = client.packets.findIndex((p) => p.type === PUBLISH)) {
        const p = parsePublish(client.packets.splice(k, 1)[0]!);
        mine.push(p.payload.toString());
        if (p.id) client.send(pubackPacket(p.id));
      }
    });
  }
  return { got, clients };
}

async function publishN(g: TestGateway, n: number, topic: string, clientId = 'share-pub'): Promise<void> {
  const { client } = await RawClient.connect(g.port, { clientId });
  for (let i = 1; i <= n; i++) {
    client.send(publishPacket(topic, `m${i}`, 1, i));
    await client.next(PUBACK);
  }
  client.end();
}

/** `n` QoS 1 messages from each publisher, payload `{publisher}:{i}`. */
async function publishFrom(g: TestGateway, publishers: string[], n: number, topic: string): Promise<void> {
  for (const clientId of publishers) {
    const { client } = await RawClient.connect(g.port, { clientId });
    for (let i = 1; i <= n; i++) {
      client.send(publishPacket(topic, `${clientId}:${i}`, 1, i));
      await client.next(PUBACK);
    }
    client.end();
  }
}

/** For each publisher, the members (indexes) that got its messages. */
function membersOf(got: string[][]): Map<string, Set<number>> {
  const by = new Map<string, Set<number>>();
  got.forEach((msgs, member) => {
    for (const m of msgs) {
      const pub = m.slice(0, m.lastIndexOf(':'));
      by.set(pub, (by.get(pub) ?? new Set()).add(member));
    }
  });
  return by;
}

describe('shared subscriptions', () => {
  test('round_robin (default): each message to exactly one member, in turn; plain subscribers get all; retained never to shared', async () => {
    const g = await startGateway();
    try {
      await publishN(g, 1, 'work/retained-before');
      const pub = await RawClient.connect(g.port, { clientId: 'ret' });
      pub.client.send(publishPacket('work/r', 'retained', 1, 1, true));
      await pub.client.next(PUBACK);
      pub.client.end();
      const shared = await members(g, 3, '$share/g/work/#');
      const plain = await members(g, 1, 'work/#');
      const queue = await members(g, 2, '$queue/work/#');
      await until(() => plain.got[0]!.length === 1, 'the plain subscriber to get the retained message');
      await publishN(g, 9, 'work/x');
      await until(() => plain.got[0]!.length === 10, 'all 9 to the plain subscriber');
      await until(() => shared.got.flat().length === 9 && queue.got.flat().length === 9, 'all 9 to each group');
      assert.deepEqual(shared.got.map((m) => m.length), [3, 3, 3]);
      assert.deepEqual(new Set(shared.got.flat()).size, 9);
      assert.ok(!shared.got.flat().includes('retained') && !queue.got.flat().includes('retained'));
      // A client cannot publish into a group's literal subscription.
      const evil = await RawClient.connect(g.port, { clientId: 'evil' });
      evil.client.send(publishPacket('$share/g/work/x', 'spoof', 1, 1));
      await evil.client.waitClosed();
      // A member that leaves is no longer picked.
      shared.clients[0]!.destroy();
      await until(() => g.gw.metrics.snapshot()['subscriptions/shared/count'] === 4, 'the member to leave');
      await publishN(g, 4, 'work/y');
      await until(() => shared.got.flat().length === 13, 'the next 4 to the two remaining members');
      assert.deepEqual(shared.got.map((m) => m.length), [3, 5, 5]);
      for (const c of [...shared.clients, ...plain.clients, ...queue.clients]) c.destroy();
    } finally {
      await g.stop();
    }
  });

  test('hash_clientid: each publisher keeps to one member, and publishers spread over the members', async () => {
    const g = await startGateway({ broker: { shared_subscription_strategy: 'hash_clientid' } });
    try {
      const shared = await members(g, 3, '$share/h/job/#');
      const pubs = Array.from({ length: 8 }, (_, i) => `pub-${i}`);
      await publishFrom(g, pubs, 4, 'job/h');
      await until(() => shared.got.flat().length === 32, 'all 32 delivered once');
      const by = membersOf(shared.got);
      for (const p of pubs) assert.equal(by.get(p)?.size, 1, `${p}'s messages all to one member`);
      // sticky would put all eight publishers on one member; round_robin would split each one.
      assert.ok(new Set([...by.values()].map((m) => [...m][0])).size > 1, 'more than one member used');
      for (const c of shared.clients) c.destroy();
    } finally {
      await g.stop();
    }
  });

  test('sticky: every publisher to one member while it stays, then to one other member', async () => {
    const g = await startGateway({ broker: { shared_subscription_strategy: 'sticky' } });
    try {
      const shared = await members(g, 3, '$share/k/job/#');
      await publishFrom(g, ['a', 'b', 'c', 'd'], 3, 'job/k');
      await until(() => shared.got.flat().length === 12, 'all 12 delivered once');
      const first = shared.got.findIndex((m) => m.length > 0);
      assert.equal(shared.got[first]!.length, 12, 'all four publishers to the one sticky member');
      shared.clients[first]!.destroy();
      await until(() => g.gw.metrics.snapshot()['subscriptions/shared/count'] === 2, 'the sticky member to leave');
      await publishFrom(g, ['e', 'f'], 3, 'job/k');
      await until(() => shared.got.flat().length === 18, 'the next 6 delivered once');
      const after = shared.got.map((m, i) => (i === first ? 0 : m.length));
      assert.deepEqual(after.filter((n) => n > 0), [6], 'all six to one other member');
      for (const c of shared.clients) c.destroy();
    } finally {
      await g.stop();
    }
  });

  test('a $ topic is never picked for a group whose filter starts with a wildcard [MQTT-4.7.2-1]: no member gets it, the turn does not advance', async () => {
    const g = await startGateway();
    try {
      for (const filter of ['$share/w/#', '$share/p/+/x']) {
        const shared = await members(g, 2, filter);
        const plain = await members(g, 1, '$dev/x'); // the $ topic's own subscriber: the message is delivered
        const dollarGroup = await members(g, 1, `$share/d${filter.length}/$dev/#`); // a group whose filter names $dev gets it
        await publishN(g, 1, '$dev/x', `dollar-pub-${filter}`);
        await until(() => plain.got[0]!.length === 1 && dollarGroup.got[0]!.length === 1, `$dev/x at its plain subscriber and its group (${filter})`);
        // Round robin: had the $ message taken a turn, member 0 would get m2 and member 1 m1.
        await publishN(g, 2, 'job/x', `job-pub-${filter}`);
        await until(() => shared.got.flat().length === 2, `the two jobs (${filter})`).catch((e: Error) => assert.fail(`${e.message}: ${JSON.stringify(shared.got)}`));
        assert.deepEqual(shared.got, [['m1'], ['m2']], `${filter}: only the jobs, in turn from the first member`);
        assert.equal(g.gw.metrics.snapshot()['messages/shared/inflight'] ?? 0, 0);
        for (const c of [...shared.clients, ...plain.clients, ...dollarGroup.clients]) c.destroy();
      }
    } finally {
      await g.stop();
    }
  });

  for (const strategy of ['sticky', 'hash_clientid', 'random'] as const) {
    test(`strategy ${strategy}`, async () => {
      const g = await startGateway({ broker: { shared_subscription_strategy: strategy } });
      try {
        const shared = await members(g, 3, '$share/s/job/#');
        await publishN(g, 30, 'job/a', 'publisher-one');
        await until(() => shared.got.flat().length === 30, 'all 30 delivered once');
        const counts = shared.got.map((m) => m.length).sort((a, b) => a - b);
        if (strategy === 'random') assert.ok(counts[0]! > 0, `random reached every member: ${counts}`);
        else assert.deepEqual(counts, [0, 0, 30], `${strategy}: one member for one publisher`);
        for (const c of shared.clients) c.destroy();
      } finally {
        await g.stop();
      }
    });
  }
});
