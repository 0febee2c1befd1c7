import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { connect, connectError, until } from '../test/helpers.ts';
import { json, startApiGateway } from '../http/test/support.ts';
import { startTcpGateway } from '../../adapters/tcp/test-kit.ts';
import { TcpDevice } from '../../firmware-sim/tcp/client.ts';
import { RawClient, connectPacket } from '../test/raw-mqtt.ts';
import { BanList } from './banned.ts';
import { parseRate, TokenBucket } from './rate.ts';

describe('rates', () => {
  test("EMQX's rate syntax", () => {
    assert.deepEqual(parseRate('1000/s'), { tokens: 1000, intervalMs: 1000, text: '1000/s' });
    assert.deepEqual(parseRate('50/10s'), { tokens: 50, intervalMs: 10_000, text: '50/10s' });
    assert.equal((parseRate('500/m') as { intervalMs: number }).intervalMs, 60_000);
    assert.equal((parseRate('100MB/s') as { tokens: number }).tokens, 100 * 1024 * 1024);
    assert.equal((parseRate('1MB') as { intervalMs: number }).intervalMs, 1000);
    assert.equal(parseRate('infinity'), 'infinity');
    for (const bad of ['', 'fast', '10/x', '0/s', '-1/s']) assert.equal(parseRate(bad), undefined, bad);
  });

  test('a token bucket serves a burst, then one per interval share, in order', () => {
    let now = 0;
    const b = new TokenBucket({ tokens: 2, intervalMs: 1000, text: '2/s' }, () => now);
    assert.deepEqual([b.take(), b.take(), b.take(), b.take()], [0, 0, 500, 1000]);
    now = 1000;
    assert.equal(b.take(), 500, 'the debt of the earlier waiters is paid first');
  });
});

describe('bans', () => {
  test('a banned clientid, username or address is refused; a connected match is kicked; the list persists', async () => {
    const g = await startApiGateway({ auth: { users: [] } });
    try {
      const post = (body: object) => fetch(`${g.api}/api/v5/banned`, { method: 'POST', headers: { authorization: g.auth, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const victim = await connect(g.url, { clientId: 'ban-me' });
      const closed = new Promise<void>((r) => victim.once('close', () => r()));
      const created = await post({ as: 'clientid', who: 'ban-me', reason: 'test' });
      assert.equal(created.status, 200);
      const ban = await json(created);
      assert.deepEqual(Object.keys(ban).sort(), ['as', 'at', 'by', 'reason', 'until', 'who']);
      assert.equal(ban.until, 'infinity');
      await closed;
      victim.end(true);
      assert.equal((await connectError(g.url, { clientId: 'ban-me' })).code, 5);
      const other = await connect(g.url, { clientId: 'not-banned' });
      other.end(true);
      const dup = await post({ as: 'clientid', who: 'ban-me' });
      assert.equal(dup.status, 400);
      assert.equal((await json(dup)).code, 'ALREADY_EXISTS');
      assert.equal((await post({ as: 'clientid_re', who: '(' })).status, 400);
      assert.equal((await post({ as: 'peerhost', who: '127.0.0.1', until: new Date(Date.now() - 1000).toISOString() })).status, 400);

      assert.equal((await post({ as: 'peerhost_net', who: '127.0.0.0/8' })).status, 200);
      // An address ban is applied at accept: closed before aedes sees it, no CONNACK, counted.
      const raw = await RawClient.open(g.port);
      raw.send(connectPacket({ clientId: 'anyone' }));
      await raw.waitClosed();
      assert.equal(raw.packets.length, 0, 'no CONNACK');
      assert.equal(g.gw.metrics.snapshot()['connections/refused_at_accept'], 1);
      const list = await json(await fetch(`${g.api}/api/v5/banned`));
      assert.deepEqual(list.data.map((b: { as: string; who: string }) => `${b.as}:${b.who}`).sort(), ['clientid:ban-me', 'peerhost_net:127.0.0.0/8']);
      assert.equal(list.meta.count, 2);
      assert.equal((await fetch(`${g.api}/api/v5/banned/peerhost_net/${encodeURIComponent('127.0.0.0/8')}`, { method: 'DELETE', headers: { authorization: g.auth } })).status, 204);
      (await connect(g.url, { clientId: 'anyone' })).end(true);

      assert.ok(existsSync(join(g.dataDir, 'banned.json')));
      const reloaded = new BanList(g.dataDir);
      assert.equal(reloaded.load(), undefined);
      assert.deepEqual(reloaded.list().map((b) => b.who), ['ban-me']);
      assert.equal((await fetch(`${g.api}/api/v5/banned/clientid/nobody`, { method: 'DELETE', headers: { authorization: g.auth } })).status, 404);
    } finally {
      await g.stop();
    }
  });
});

describe('rate limits', () => {
  test('max_conn_rate refuses connections beyond the rate (CONNACK 3, server unavailable)', async () => {
    const g = await startApiGateway({ limits: { listeners: { tcp: { max_conn_rate: '2/m' } }, max_conn_wait: '0ms' } });
    try {
      const a = await connect(g.url, { clientId: 'cr-1' });
      const b = await connect(g.url, { clientId: 'cr-2' });
      assert.equal((await connectError(g.url, { clientId: 'cr-3' })).code, 3);
      await Promise.all([a.endAsync(), b.endAsync()]);
    } finally {
      await g.stop();
    }
  });

  test('a client over messages_rate is slowed, not dropped; another client is not held behind it', async () => {
    const g = await startApiGateway({ limits: { listeners: { tcp: { messages_rate: '10/s' } } } });
    try {
      const sub = await connect(g.url, { clientId: 'rl-sub' });
      await sub.subscribeAsync('rl/#', { qos: 1 });
      const order: string[] = [];
      sub.on('message', (topic, payload) => order.push(`${topic}:${payload.toString()}`));
      const fast = await connect(g.url, { clientId: 'rl-fast' });
      const slow = await connect(g.url, { clientId: 'rl-flood' });
      const N = 50;
      // The flood: QoS 1, all written at once; its burst of 10 goes through, the rest is paced.
      const flood = Promise.all(Array.from({ length: N }, (_, i) => slow.publishAsync('rl/flood', String(i), { qos: 1 })));
      await until(() => order.length >= 10, 'the burst delivered');
      // A well-behaved client publishes now and gets its PUBACKs while the flood is still paced.
      for (let i = 0; i < 3; i++) await fast.publishAsync('rl/fast', String(i), { qos: 1 });
      const floodDeliveredWhenFastDone = order.filter((m) => m.startsWith('rl/flood')).length;
      assert.ok(floodDeliveredWhenFastDone < N, `the flood should still be paced when the other client is done (${floodDeliveredWhenFastDone} of ${N} delivered)`);
      await flood;
      await until(() => order.filter((m) => m.startsWith('rl/flood')).length === N, 'every flood message delivered');
      assert.deepEqual(order.filter((m) => m.startsWith('rl/flood')), Array.from({ length: N }, (_, i) => `rl/flood:${i}`), 'none dropped, in order');
      assert.ok(order.indexOf('rl/fast:2') < order.indexOf(`rl/flood:${N - 1}`), 'the other client was not queued behind the flood');
      assert.ok(g.gw.limits.gate.stats.slowed > 0, 'publishes were held');
      await Promise.all([sub.endAsync(), fast.endAsync(), slow.endAsync()]);
    } finally {
      await g.stop();
    }
  });

  test('per adapter: a TCP device over messages_rate is slowed, not dropped; another device is not held behind it', async () => {
    const g = await startTcpGateway({}, { limits: { adapters: { tcp: { messages_rate: '10/s' } } } });
    const devices: TcpDevice[] = [];
    try {
      const port = g.tcpPort;
      const sub = await connect(g.url, { clientId: 'ad-sub' });
      await sub.subscribeAsync('tcp/+/up');
      const order: string[] = [];
      sub.on('message', (topic, payload) => order.push(`${topic.split('/')[1]}:${payload.toString()}`));
      const flood = new TcpDevice({ port, clientid: 'flooder' });
      const calm = new TcpDevice({ port, clientid: 'calm' });
      devices.push(flood, calm);
      await flood.connect();
      await calm.connect();
      const N = 50;
      for (let i = 0; i < N; i++) flood.send(String(i));
      await until(() => order.length >= 10, 'the burst delivered');
      for (let i = 0; i < 3; i++) calm.send(`c${i}`);
      await until(() => order.includes('calm:c2'), "the calm device's messages delivered");
      assert.ok(order.filter((m) => m.startsWith('flooder')).length < N, 'the flood is still paced when the calm device is through');
      await until(() => order.filter((m) => m.startsWith('flooder')).length === N, 'every flood message delivered', 20_000);
      assert.deepEqual(order.filter((m) => m.startsWith('flooder')), Array.from({ length: N }, (_, i) => `flooder:${i}`), 'none dropped, in order');
      assert.ok(g.gw.limits.gate.stats.slowed > 0, 'publishes were held');
      await sub.endAsync();
    } finally {
      for (const d of devices) d.destroy();
      await g.stop();
    }
  });
});
