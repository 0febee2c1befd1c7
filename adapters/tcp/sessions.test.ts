import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { AdapterContext, MessageApi } from '../../gateway/core/adapter.ts';
import { Metrics } from '../../gateway/metrics/metrics.ts';
import { DedupWindow } from './session.ts';
import { SessionStore, type SessionOwner } from './sessions.ts';
import { PeerLog } from '../../gateway/core/peer-log.ts';
import { TcpStats } from './stats.ts';

describe('DedupWindow', () => {
  const contents = (w: DedupWindow, ids: number[]) => ids.map((id) => w.get(id));

  test('delete forgets one id and keeps the others, oldest first, also across the wrap', () => {
    const w = new DedupWindow(4);
    for (const id of [1, 2, 3, 4, 5]) w.set(id, id % 4); // full: 2 3 4 5 (1 was the oldest)
    w.delete(3);
    assert.deepEqual(contents(w, [1, 2, 3, 4, 5]), [undefined, 2, undefined, 0, 1]);
    w.set(6, 2); // fills the freed slot: 2 4 5 6
    assert.deepEqual(contents(w, [2, 4, 5, 6]), [2, 0, 1, 2]);
    w.set(7, 3); // full again: the oldest (2) goes
    assert.deepEqual(contents(w, [2, 4, 5, 6, 7]), [undefined, 0, 1, 2, 3]);
    w.delete(7);
    w.delete(4);
    w.delete(4);
    assert.deepEqual(contents(w, [4, 5, 6, 7]), [undefined, 1, 2, undefined]);
    for (const id of [8, 9, 10]) w.set(id, 0); // 5 6 8 9, then 10 pushes 5 out
    assert.deepEqual(contents(w, [5, 6, 8, 9, 10]), [undefined, 2, 0, 0, 0]);
  });
});

describe('SessionStore bound (v2.max_sessions)', () => {
  test('a new client id evicts the least recently used sessions without a connection and releases their subscriptions', async () => {
    const subscribed = new Set<string>();
    const messages = {
      subscribe: async (filter: string) => {
        subscribed.add(filter);
        return { unsubscribe: async () => void subscribed.delete(filter) };
      },
    } as unknown as MessageApi;
    const metrics = new Metrics('adapters/tcp/');
    const log = { warn() {}, info() {}, debug() {}, error() {} } as unknown as AdapterContext['log'];
    const limits = { inflightWindow: 4, maxQueued: 4, retryInterval: 60_000, dedupWindow: 8, sessionExpiry: 3_600_000, maxSessions: 2 };
    const store = new SessionStore(messages, limits, new TcpStats(metrics), new PeerLog(log));
    const evicted = () => metrics.snapshot()['adapters/tcp/sessions/evicted'] ?? 0;
    const owners = new Map<string, SessionOwner & { closed: boolean }>();
    const connect = async (clientid: string) => {
      const owner = { version: 2, closed: false, send: () => true, kick() {} };
      owners.set(clientid, owner);
      const r = await store.open(owner, { version: 2, keepalive: 60, resume: true, clientid }, { protocol: 'tcp', transport: 'tcp', id: clientid }, `tcp/${clientid}/dn`);
      return r?.present;
    };
    const disconnect = (clientid: string) => store.release(owners.get(clientid) as SessionOwner, clientid, 2);

    assert.equal(await connect('a'), false);
    disconnect('a');
    assert.equal(await connect('b'), false);
    disconnect('b');
    assert.equal(await connect('c'), false); // a is the least recently used: forgotten
    assert.equal(evicted(), 1);
    assert.equal(store.size, 2);
    assert.deepEqual([...subscribed].sort(), ['tcp/b/dn', 'tcp/c/dn']);
    disconnect('c');
    assert.equal(await connect('b'), true); // b resumes: now c is the oldest
    assert.equal(await connect('d'), false);
    assert.equal(evicted(), 2);
    assert.deepEqual([...subscribed].sort(), ['tcp/b/dn', 'tcp/d/dn']);
    // Sessions with a connection are never evicted, even over the bound.
    assert.equal(await connect('e'), false);
    assert.equal(evicted(), 2);
    assert.equal(store.size, 3);
    // An evicted session is gone: its device starts clean.
    disconnect('e');
    assert.equal(await connect('a'), false);
    await store.closeAll();
  });

  test('a session that a connection is opening is not evicted', async () => {
    let unblock!: () => void;
    const blocked = new Promise<void>((r) => (unblock = r));
    const messages = {
      subscribe: async (filter: string) => {
        if (filter === 'tcp/a/dn' && opening) await blocked;
        return { unsubscribe: async () => {} };
      },
    } as unknown as MessageApi;
    let opening = false;
    const log = { warn() {}, info() {}, debug() {}, error() {} } as unknown as AdapterContext['log'];
    const limits = { inflightWindow: 4, maxQueued: 4, retryInterval: 60_000, dedupWindow: 8, sessionExpiry: 3_600_000, maxSessions: 2 };
    const store = new SessionStore(messages, limits, new TcpStats(new Metrics('adapters/tcp/')), new PeerLog(log));
    const owner = (clientid: string) => ({
      clientid,
      version: 2,
      closed: false,
      kickedFor: undefined as string | undefined,
      send: () => true,
      kick(reason: string) {
        this.kickedFor = reason;
      },
    });
    const open = (o: ReturnType<typeof owner>) => store.open(o, { version: 2, keepalive: 60, resume: true, clientid: o.clientid }, { protocol: 'tcp', transport: 'tcp', id: o.clientid }, `tcp/${o.clientid}/dn`);
    const a = owner('a');
    const b = owner('b');
    await open(a);
    store.release(a, 'a', 2);
    await open(b);
    store.release(b, 'b', 2);
    // a reconnects clean (its session is rebuilt, subscription pending) while c arrives over the bound.
    opening = true;
    const a2 = owner('a');
    const reopening = store.open(a2, { version: 2, keepalive: 60, resume: false, clientid: 'a' }, { protocol: 'tcp', transport: 'tcp', id: 'a' }, 'tcp/a/dn');
    await new Promise((r) => setImmediate(r));
    await open(owner('c'));
    unblock();
    assert.equal((await reopening)?.present, false);
    // b went instead, and a's connection holds the session the store knows: the next CONNECT of a takes it over.
    assert.equal(store.size, 2);
    assert.equal((await open(owner('b')))?.present, false);
    await open(owner('a'));
    assert.equal(a2.kickedFor, 'takenover');
    await store.closeAll();
  });
});
