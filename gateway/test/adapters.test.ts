import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { Adapter, AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import { PublishRejected } from '../core/message.ts';
import { collect, connect, endClient, startGateway, until, type TestGateway } from './helpers.ts';

// Test adapters: the contract is exercised with real gateway parts; only the "device" is in-process.
const echoSchema = z.strictObject({ enabled: z.boolean().default(false), prefix: z.string().default('echo') });
const events: string[] = [];
let echoCtx: AdapterContext | undefined;

const echo: AdapterDefinition<typeof echoSchema> = {
  name: 'echo',
  configSchema: echoSchema,
  create: (cfg) => {
    const a: Adapter = {
      async start(ctx) {
        events.push('echo:start');
        echoCtx = ctx;
        const dev = { protocol: 'echo', transport: 'udp' as const, id: 'e1', address: '127.0.0.1:9' };
        ctx.messages.deviceConnected(dev, { keepalive: 60 });
        // Downlink: whatever arrives on <prefix>/in is published back on <prefix>/out.
        await ctx.messages.subscribe(`${cfg.prefix}/in`, (m) => {
          if (m.payload.toString() === 'throw') throw new Error('handler blew up');
          void ctx.messages.publish({ topic: `${cfg.prefix}/out`, payload: m.payload, qos: 1, device: dev });
        });
      },
      async stop() {
        events.push('echo:stop');
      },
    };
    return a;
  },
};

let brokenStarts = 0;
const brokenSchema = z.strictObject({ enabled: z.boolean().default(false) });
const broken: AdapterDefinition<typeof brokenSchema> = {
  name: 'broken',
  configSchema: brokenSchema,
  create: () => ({
    async start() {
      brokenStarts++;
      events.push('broken:start');
      if (brokenStarts <= 2) throw new Error(`serial port /dev/ttyFAKE0 not found (attempt ${brokenStarts})`);
    },
    async stop() {
      events.push('broken:stop');
    },
  }),
};

describe('adapter contract', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway(
      {
        adapters: { echo: { enabled: true }, broken: { enabled: true } },
        broker: { max_packet_size: 4096 },
        auth: { acl: [{ permission: 'deny', clientid: 'e1', action: 'publish', topics: ['forbidden/#'] }] },
      },
      [echo, broken],
      { backoffInitial: 50, backoffMax: 200 },
    );
  });
  after(() => g.stop());

  test('an adapter publishes and receives downlinks through the message API', async () => {
    const c = await connect(g.url);
    await c.subscribeAsync('echo/out', { qos: 1 });
    const got = collect(c, 1);
    await c.publishAsync('echo/in', 'ping', { qos: 1 });
    assert.deepEqual(await got, [{ topic: 'echo/out', payload: 'ping' }]);
    await endClient(c);
    assert.equal(g.gw.registry.get('echo', 'e1')?.online, true);
  });

  test('a failing adapter is restarted with backoff while the rest keep working', async () => {
    await until(() => g.gw.health().find((h) => h.name === 'broken')?.state === 'running', 'broken adapter to recover');
    const h = g.gw.health().find((x) => x.name === 'broken')!;
    assert.equal(h.restarts, 2);
    assert.match(h.last_error!, /ttyFAKE0/);
    assert.equal(g.gw.health().find((x) => x.name === 'echo')!.state, 'running');
  });

  test('a throwing handler or ctx.fail() restarts only that adapter', async () => {
    const before = events.filter((e) => e === 'echo:start').length;
    const c = await connect(g.url);
    await c.publishAsync('echo/in', 'throw', { qos: 1 });
    await until(() => events.filter((e) => e === 'echo:start').length === before + 1 && g.gw.health()[0]!.state === 'running', 'echo restart');
    assert.ok(events.includes('echo:stop'));
    // After the restart there is exactly one subscription: one message in, one out.
    await c.subscribeAsync('echo/out', { qos: 1 });
    const got = collect(c, 1);
    await c.publishAsync('echo/in', 'again', { qos: 1 });
    assert.deepEqual(await got, [{ topic: 'echo/out', payload: 'again' }]);
    await new Promise((r) => setTimeout(r, 100));
    await endClient(c);
  });

  test('ctx.fail() stops the adapter, releases its devices, and restarts it', async () => {
    const starts = events.filter((e) => e === 'echo:start').length;
    const c = await connect(g.url);
    await c.subscribeAsync('$SYS/brokers/+/gateway/echo/clients/e1/disconnected');
    const event = collect(c, 1);
    echoCtx!.fail(new Error('socket died'));
    assert.equal(JSON.parse((await event)[0]!.payload).reason, 'internal_error');
    await until(() => events.filter((e) => e === 'echo:start').length === starts + 1 && g.gw.health()[0]!.state === 'running', 'echo restart after fail()');
    assert.equal(g.gw.health()[0]!.last_error, 'socket died');
    await endClient(c);
  });

  test('an adapter message larger than broker.max_packet_size is refused as too_large', async () => {
    await assert.rejects(
      echoCtx!.messages.publish({ topic: 'big', payload: Buffer.alloc(5000), device: { protocol: 'echo', transport: 'udp' as const, id: 'e1' } }),
      (err: unknown) => err instanceof PublishRejected && err.reason === 'too_large',
    );
  });

  test('the ACL applies to adapter devices', async () => {
    await assert.rejects(
      echoCtx!.messages.publish({ topic: 'forbidden/x', payload: 'no', device: { protocol: 'echo', transport: 'udp' as const, id: 'e1' } }),
      (err: unknown) => err instanceof PublishRejected && err.reason === 'not_authorized',
    );
    await assert.rejects(
      echoCtx!.messages.publish({ topic: 'bad/+/topic', payload: 'no', device: { protocol: 'echo', transport: 'udp' as const, id: 'e1' } }),
      (err: unknown) => err instanceof PublishRejected && err.reason === 'invalid_topic',
    );
  });

  test('an in-process subscription to # does not receive $SYS', async () => {
    const got: string[] = [];
    const sub = await echoCtx!.messages.subscribe('#', (m) => got.push(m.topic));
    g.gw.sys.publishStats();
    await echoCtx!.messages.publish({ topic: 'plain/topic', payload: 'x', device: { protocol: 'echo', transport: 'udp' as const, id: 'e1', address: '127.0.0.1:9' } });
    await until(() => got.includes('plain/topic'), 'plain message');
    assert.deepEqual(got.filter((t) => t.startsWith('$')), []);
    await sub.unsubscribe();
  });

  test('adapter device sessions appear as $SYS gateway events', async () => {
    const c = await connect(g.url);
    await c.subscribeAsync('$SYS/brokers/+/gateway/echo/clients/+/+');
    const got = collect(c, 2);
    const dev = { protocol: 'echo', transport: 'udp' as const, id: 'gw-dev', address: '127.0.0.1:4000' };
    echoCtx!.messages.deviceConnected(dev, { keepalive: 10, proto_name: 'ECHO', proto_ver: 2 });
    echoCtx!.messages.deviceDisconnected(dev, 'keepalive_timeout');
    const [conn, disc] = await got;
    assert.equal(conn!.topic, '$SYS/brokers/fieldgate/gateway/echo/clients/gw-dev/connected');
    const cb = JSON.parse(conn!.payload);
    assert.equal(cb.protocol, 'echo');
    assert.equal(cb.ipaddress, '127.0.0.1');
    assert.equal(cb.proto_name, 'ECHO');
    assert.equal(JSON.parse(disc!.payload).reason, 'keepalive_timeout');
    await endClient(c);
  });

  test('stop runs in reverse start order', async () => {
    events.length = 0;
    await g.gw.stop();
    assert.deepEqual(events, ['broken:stop', 'echo:stop']);
  });
});
