// Lwm2mServer's command logic with a scripted CoAP link and a manual clock: queue mode, expiry,
// ttl 0, a timeout marking a queue-mode device asleep, commands dropped when a device goes.
// Deterministic and instant; the same behaviours over real UDP are in queue.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AdapterContext } from '../../gateway/core/adapter.ts';
import { lwm2mConfigSchema } from './config.ts';
import type { CoapLink, LinkRequest, LinkResponse } from './link.ts';
import { builtinModel } from './objects/index.ts';
import { Lwm2mServer } from './server.ts';

interface Sent {
  path: string;
  req: LinkRequest;
  resolve(r: Partial<LinkResponse>): void;
  reject(e: Error): void;
}

function harness(cfg: Record<string, unknown> = {}) {
  let now = 1_000_000;
  const sent: Sent[] = [];
  const published: { topic: string; json: Record<string, unknown> }[] = [];
  // Every live subscription, as a broker keeps them: a second one on the same filter is a second delivery.
  const handlers: { filter: string; on: (m: { payload: Buffer; messageExpiryInterval?: number }) => void }[] = [];
  const link: CoapLink = {
    request: (_peer, req) =>
      new Promise((resolve, reject) => {
        sent.push({ path: `/${req.path.join('/')}`, req, resolve: (r) => resolve({ code: '2.05', payload: Buffer.alloc(0), token: Buffer.from([1]), option: () => undefined, ...r }), reject });
      }),
    forget: () => true,
  };
  const ctx = {
    log: { info() {}, warn() {}, debug() {}, error() {} },
    messages: {
      authenticate: () => Promise.resolve({ ok: true as const }),
      publish: (p: { topic: string; payload: Buffer | string }) => {
        published.push({ topic: p.topic, json: JSON.parse(String(p.payload)) as Record<string, unknown> });
        return Promise.resolve();
      },
      subscribe: (filter: string, on: (m: { payload: Buffer; messageExpiryInterval?: number }) => void) => {
        const h = { filter, on };
        handlers.push(h);
        const unsubscribe = () => {
          if (handlers.includes(h)) handlers.splice(handlers.indexOf(h), 1);
          return Promise.resolve();
        };
        return Promise.resolve({ unsubscribe });
      },
      deviceConnected() {},
      deviceDisconnected() {},
      deviceSeen() {},
    },
  } as unknown as Pick<AdapterContext, 'messages' | 'log'>;
  const server = new Lwm2mServer({ ctx, cfg: lwm2mConfigSchema.parse({ enabled: true, ...cfg }), model: builtinModel(), link: () => link, now: () => now, admit: () => ({ ok: true }), count: () => {} });
  const flush = () => new Promise((r) => setImmediate(r));
  return {
    server,
    sent,
    published,
    advance: (ms: number) => (now += ms),
    subscriptions: (ep: string) => handlers.filter((x) => x.filter === `lwm2m/${ep}/dn/#`).length,
    register: async (ep: string, q: string[] = [], port = 5000) => {
      const r = await server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port }, method: 'POST', path: ['rd'], query: [`ep=${ep}`, 'lt=3600', ...q], payload: Buffer.from('</3/0>,</3303/0>') });
      await flush();
      return r;
    },
    update: async (loc: string[]) => {
      const r = await server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port: 5000 }, method: 'POST', path: loc, query: [], payload: Buffer.alloc(0) });
      await flush();
      return r;
    },
    /** `expiry`: the MQTT 5 message expiry interval (s) the broker delivers the command with. */
    command: async (ep: string, body: unknown, expiry?: number) => {
      for (const x of handlers.filter((y) => y.filter === `lwm2m/${ep}/dn/#`)) x.on({ payload: Buffer.from(JSON.stringify(body)), ...(expiry !== undefined && { messageExpiryInterval: expiry }) });
      await flush();
    },
    flush,
  };
}

test('one request in flight, FIFO behind it', async () => {
  const h = harness();
  await h.register('a');
  for (const p of ['/3/0/0', '/3/0/1', '/3/0/2']) await h.command('a', { msgType: 'read', data: { path: p } });
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0'], 'the others wait');
  h.sent[0]!.resolve({ code: '2.05', payload: Buffer.from('x'), option: (n) => (n === 'Content-Format' ? Buffer.from([]) : undefined) });
  await h.flush();
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0', '/3/0/1']);
  h.sent[1]!.resolve({ code: '4.04' });
  await h.flush();
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0', '/3/0/1', '/3/0/2']);
});

test('queue mode: held outside the window, sent in order after Update; expiry drops and reports; a timeout puts the device to sleep', async () => {
  const h = harness({ qmode_time_window: '10s', command_ttl: '60s' });
  const reg = await h.register('q', ['b=UQ']);
  const loc = reg.locationPath!;
  h.advance(11_000);
  await h.command('q', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
  await h.command('q', { reqID: 2, msgType: 'read', mheaders: { ttl: 5 }, data: { path: '/3/0/1' } });
  await h.command('q', { reqID: 3, msgType: 'read', data: { path: '/3/0/2' } });
  assert.equal(h.sent.length, 0);
  h.advance(6_000);
  h.server.sweep();
  assert.deepEqual(h.published.filter((p) => p.json.msgType === 'command_expired').map((p) => p.json.reqID), [2]);
  await h.update(loc);
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0']);
  h.sent[0]!.reject(Object.assign(new Error('no ack'), { code: 'coap_timeout' }));
  await h.flush();
  assert.equal(h.published.at(-1)?.json.msgType, 'coap_timeout');
  assert.equal(h.sent.length, 1, 'asleep after a timeout: /3/0/2 waits for the next Update');
  await h.update(loc);
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0', '/3/0/2']);
});

test('MQTT 5 message expiry: a command lives min(mheaders.ttl, expiry interval) seconds from arrival, then is dropped and reported', async () => {
  const h = harness({ qmode_time_window: '10s', command_ttl: '1h' });
  const loc = (await h.register('x', ['b=UQ'])).locationPath!;
  h.advance(11_000); // asleep: everything waits for the next Update
  await h.command('x', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } }, 5); // expiry alone: 5 s
  await h.command('x', { reqID: 2, msgType: 'read', mheaders: { ttl: 3 }, data: { path: '/3/0/1' } }, 60); // ttl sooner: 3 s
  await h.command('x', { reqID: 3, msgType: 'read', mheaders: { ttl: 60 }, data: { path: '/3/0/2' } }, 8); // expiry sooner: 8 s
  await h.command('x', { reqID: 4, msgType: 'read', data: { path: '/3/0/3' } }, 0); // nothing left of it
  await h.command('x', { reqID: 5, msgType: 'read', data: { path: '/3/0/9' } }, 600);
  const expired = () => h.published.filter((p) => p.json.msgType === 'command_expired').map((p) => p.json.reqID);
  assert.deepEqual(expired(), [4], 'an interval of 0 has expired on arrival');
  h.advance(2_999);
  h.server.sweep();
  assert.deepEqual(expired(), [4]);
  h.advance(1);
  h.server.sweep();
  assert.deepEqual(expired(), [4, 2], 'ttl 3 s beat the 60 s expiry');
  h.advance(2_000);
  h.server.sweep();
  assert.deepEqual(expired(), [4, 2, 1], 'expiry 5 s with no ttl (command_ttl is 1 h)');
  h.advance(3_000);
  h.server.sweep();
  assert.deepEqual(expired(), [4, 2, 1, 3], 'expiry 8 s beat ttl 60 s');
  assert.equal(h.sent.length, 0);
  await h.update(loc);
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/9'], 'only the long-lived one goes at the Update');
});

test('mheaders.ttl 0 skips the queue; a device that goes reports its queued commands as device_gone', async () => {
  const h = harness();
  const reg = await h.register('t');
  await h.command('t', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
  await h.command('t', { reqID: 2, msgType: 'read', data: { path: '/3/0/1' } });
  await h.command('t', { reqID: 3, msgType: 'execute', mheaders: { ttl: 0 }, data: { path: '/3/0/4' } });
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0', '/3/0/4'], 'ttl 0 went past the queued read');
  await h.server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port: 5000 }, method: 'DELETE', path: reg.locationPath!, query: [], payload: Buffer.alloc(0) });
  await h.flush();
  assert.deepEqual(h.published.filter((p) => p.json.msgType === 'device_gone').map((p) => p.json.reqID), [2]);
  assert.equal(h.server.size, 0);
});

test('lifetime: silence for lt seconds removes the device; any answer renews it', async () => {
  const h = harness({ lifetime_min: '1s' });
  await h.server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port: 5000 }, method: 'POST', path: ['rd'], query: ['ep=l', 'lt=10'], payload: Buffer.alloc(0) });
  await h.flush();
  h.advance(9_000);
  await h.command('l', { msgType: 'read', data: { path: '/3/0/0' } });
  h.sent[0]!.resolve({ code: '2.05', payload: Buffer.from('x') });
  await h.flush();
  h.advance(9_000);
  h.server.sweep();
  assert.equal(h.server.size, 1, 'the answer renewed the lifetime');
  h.advance(1_000);
  h.server.sweep();
  assert.equal(h.server.size, 0);
});

test('two Registers for one endpoint at once: one command subscription, each command sent once, also after De-register + Register', async () => {
  const h = harness();
  const [a, b] = await Promise.all([h.register('twice', [], 5001), h.register('twice', [], 5002)]);
  assert.equal(a.code, '2.01');
  assert.equal(b.code, '2.01');
  assert.equal(h.subscriptions('twice'), 1);
  const responses = (reqID: number) => h.published.filter((p) => p.topic === 'lwm2m/twice/up/resp' && p.json.reqID === reqID).length;
  await h.command('twice', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
  assert.equal(h.sent.length, 1, 'one request reaches the device');
  h.sent[0]!.resolve({ code: '2.05', payload: Buffer.from('x') });
  await h.flush();
  await h.flush();
  assert.equal(h.sent.length, 1);
  assert.equal(responses(1), 1, 'one response on MQTT');

  const live = h.server.device('twice')!;
  await h.server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port: live.peer.port }, method: 'DELETE', path: ['rd', live.regId], query: [], payload: Buffer.alloc(0) });
  await h.flush();
  assert.equal(h.subscriptions('twice'), 0, 'De-register unsubscribed');
  await Promise.all([h.register('twice', [], 5003), h.register('twice', [], 5004)]);
  assert.equal(h.subscriptions('twice'), 1);
  await h.command('twice', { reqID: 2, msgType: 'read', data: { path: '/3/0/0' } });
  assert.equal(h.sent.length, 2);
  h.sent[1]!.resolve({ code: '2.05', payload: Buffer.from('x') });
  await h.flush();
  await h.flush();
  assert.equal(h.sent.length, 2);
  assert.equal(responses(2), 1);
});

test('a registration is bounded: Update takes only lt, b, sms and Q (others 4.00, nothing kept); Register query and links are capped', async () => {
  const h = harness({ update_rate: 0 });
  const reg = await h.register('big');
  const update = (query: string[], payload = Buffer.alloc(0)) => h.server.handle({ transport: 'udp4', peer: { address: '10.0.0.1', port: 5000 }, method: 'POST', path: reg.locationPath!, query, payload });
  const before = JSON.stringify(h.server.device('big')!.reg);
  for (let i = 0; i < 50; i++) {
    const r = await update(Array.from({ length: 20 }, (_, k) => `k${i}_${k}=${'v'.repeat(40)}`));
    assert.equal(r.code, '4.00');
  }
  assert.equal(JSON.stringify(h.server.device('big')!.reg), before, 'nothing from the refused Updates was kept');
  assert.equal(h.published.filter((p) => p.json.msgType === 'update').length, 0);
  assert.equal((await update(['lt=120', 'b=UQ', 'sms=123', 'Q', 'lwm2m=1.1'])).code, '2.04');
  assert.deepEqual(Object.keys(h.server.device('big')!.reg.params).sort(), ['Q', 'b', 'ep', 'lt', 'sms']);
  const tooMany = Array.from({ length: 2000 }, (_, i) => `</${i}/0>`).join(',');
  assert.equal((await update([], Buffer.from(tooMany))).code, '4.00');

  const register = (query: string[], payload = Buffer.alloc(0)) => h.server.handle({ transport: 'udp4', peer: { address: '10.0.0.2', port: 5000 }, method: 'POST', path: ['rd'], query: ['ep=other', 'lt=60', ...query], payload });
  const r1 = await register(Array.from({ length: 40 }, (_, i) => `x${i}=1`));
  assert.equal(r1.code, '4.00');
  assert.match(r1.payload ?? '', /too many query parameters/);
  assert.equal((await register([`x=${'v'.repeat(3000)}`])).code, '4.00');
  assert.equal((await register([], Buffer.from(tooMany))).code, '4.00');
  assert.equal((await register([], Buffer.from(`</1/0>;x="${'v'.repeat(40_000)}"`))).code, '4.00');
  assert.equal(h.server.size, 1);
});

test('Updates are rate-limited per device: beyond update_burst 4.29 with Max-Age, nothing published; the next token lets one through', async () => {
  const h = harness({ update_rate: 0.5, update_burst: 3 });
  const a = await h.register('fast');
  const b = await h.register('calm', [], 5001);
  const codes: string[] = [];
  for (let i = 0; i < 5; i++) codes.push((await h.update(a.locationPath!)).code);
  assert.deepEqual(codes, ['2.04', '2.04', '2.04', '4.29', '4.29']);
  const limited = await h.update(a.locationPath!);
  assert.equal(limited.maxAge, 2, 'Max-Age: seconds until the next token (rate 0.5/s)');
  assert.equal(h.published.filter((p) => p.json.msgType === 'update' && p.topic.startsWith('lwm2m/fast/')).length, 3);
  assert.equal((await h.update(b.locationPath!)).code, '2.04', 'another device is not held back');
  h.advance(2_000);
  assert.equal((await h.update(a.locationPath!)).code, '2.04');
  assert.equal((await h.update(a.locationPath!)).code, '4.29');
});

test('a re-Register while a command is in flight: the next command waits for it, one request at a time', async () => {
  const h = harness();
  await h.register('re');
  await h.command('re', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
  await h.command('re', { reqID: 2, msgType: 'read', data: { path: '/3/0/1' } });
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0']);
  assert.equal((await h.register('re', [], 5009)).code, '2.01');
  await h.flush();
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0'], '/3/0/1 still waits for the read in flight');
  h.sent[0]!.resolve({ code: '2.05', payload: Buffer.from('x') });
  await h.flush();
  await h.flush();
  assert.deepEqual(h.sent.map((s) => s.path), ['/3/0/0', '/3/0/1']);
  assert.equal(h.sent[1]!.req.path.join('/'), '3/0/1');
  h.sent[1]!.resolve({ code: '2.05', payload: Buffer.from('y') });
  await h.flush();
  await h.flush();
  assert.equal(h.server.device('re')!.inflight, undefined);
  assert.deepEqual(h.published.filter((p) => p.topic === 'lwm2m/re/up/resp' && p.json.reqID !== undefined).map((p) => p.json.reqID), [1, 2]);
});

test('max_devices: concurrent Registers of new endpoints cannot all pass while authentication is awaited', async () => {
  const h = harness({ max_devices: 2 });
  const codes = (await Promise.all(['m1', 'm2', 'm3', 'm4'].map((ep, i) => h.register(ep, [], 6000 + i)))).map((r) => r.code);
  assert.deepEqual(codes.filter((c) => c === '2.01').length, 2);
  assert.deepEqual(codes.filter((c) => c === '5.03').length, 2);
  assert.equal(h.server.size, 2);
  assert.equal((await h.register('m1', [], 6000)).code, '2.01', 'a registered endpoint may re-register when full');
});
