// The HTTP API's port is bound at start and its app (fastify and the routes, server.ts) is built
// by the first request (listener.ts): first requests, concurrent ones (and more than may wait),
// auth on them, a stop before any request and during the build, builds that fail or hang, slow
// requests, accept errors, and `localhost` on both loopbacks. Real HTTP on port 0.
import assert from 'node:assert/strict';
import { lookup as dnsLookup } from 'node:dns/promises';
import type { Server } from 'node:http';
import { connect as tcpConnect, createServer as createTcpServer } from 'node:net';
import { test } from 'node:test';
import type { FastifyInstance } from 'fastify';
import type { ComponentDefinition } from '../app/component.ts';
import { startGateway, until, type LogLine, type TestGateway } from '../test/helpers.ts';
import { ApiKeyStore } from './apikeys.ts';
import { ManagementPlane } from './component.ts';
import type { AppLoader, HttpListenerOptions } from './listener.ts';
import { loadApp } from './server.ts';
import { json, nonLoopbackAddress } from './test/support.ts';

interface LazyGateway extends TestGateway {
  api: string;
  plane: ManagementPlane;
  lines: LogLine[];
  auth: string;
  /** How many times the loader was called. */
  loads: () => number;
}

/**
 * A gateway with the HTTP API on all addresses (or `host`; port 0), built by `load` (default: the
 * real one), with the listener's options.
 */
async function startLazy(load: AppLoader = loadApp, opts: HttpListenerOptions & { host?: string } = {}): Promise<LazyGateway> {
  let plane: ManagementPlane | undefined;
  let loads = 0;
  const counted: AppLoader = (deps, server) => (loads++, load(deps, server));
  const { host = '0.0.0.0', ...listener } = opts;
  const http: ComponentDefinition = { name: 'http', provides: ['http/api'], enabled: () => true, create: async (cfg) => (plane = new ManagementPlane(cfg.http, { loadApp: counted, ...listener })) };
  const lines: LogLine[] = [];
  const g = await startGateway({ http: { enabled: true, host, port: 0 } }, [], undefined, [http], lines);
  const port = g.gw.services.get('http/api')!.port;
  const k = new ApiKeyStore(g.dataDir).create('tests');
  return { ...g, api: `http://127.0.0.1:${port}`, plane: plane!, lines, auth: `Basic ${Buffer.from(`${k.key}:${k.secret}`).toString('base64')}`, loads: () => loads };
}

const loadedLines = (g: LazyGateway) => g.lines.filter((l) => l.msg === 'HTTP API: routes loaded on the first request');

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
}

test('the first requests after start, sent together, are answered as always; auth applies to them', async () => {
  const g = await startLazy();
  try {
    assert.equal(g.plane.running?.built, false, 'nothing built before a request');
    const remote = nonLoopbackAddress();
    const port = g.gw.services.get('http/api')!.port;
    const [status, clients, write, missing, page, fromRemote] = await Promise.all([
      fetch(`${g.api}/api/v5/status?format=json`),
      fetch(`${g.api}/api/v5/clients`),
      fetch(`${g.api}/api/v5/publish`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ topic: 't/1', payload: 'x' }) }),
      fetch(`${g.api}/no/such/path`),
      fetch(`${g.api}/`),
      remote ? fetch(`http://${remote}:${port}/api/v5/clients`) : undefined,
    ]);
    assert.equal(status.status, 200);
    assert.equal((await json(status)).broker_status, 'started');
    assert.equal(clients.status, 200, 'a read from loopback needs no key');
    assert.equal((await json(clients)).meta.count, 0);
    assert.equal(write.status, 401, 'a write without a key is refused');
    assert.equal((await json(write)).code, 'BAD_API_KEY_OR_SECRET');
    assert.equal(missing.status, 404);
    assert.match(await page.text(), /<html/i);
    if (fromRemote) assert.equal(fromRemote.status, 401, 'a remote read without a key is refused');
    const ok = await fetch(`${g.api}/api/v5/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: g.auth }, body: JSON.stringify({ topic: 't/1', payload: 'x' }) });
    assert.equal(ok.status, 202, 'the request body of a write is read');
    assert.equal(g.plane.running?.built, true);
    assert.equal(g.loads(), 1, 'built once for all of them');
    assert.equal(loadedLines(g).length, 1);
  } finally {
    await g.stop();
  }
});

test('a stop before any request closes the port without building the app', async () => {
  const g = await startLazy();
  const port = g.gw.services.get('http/api')!.port;
  const idle = tcpConnect(port, '127.0.0.1');
  await new Promise((r) => idle.once('connect', r));
  const ended = new Promise((r) => idle.once('close', r));
  await g.stop();
  await ended;
  assert.equal(g.loads(), 0);
  assert.equal(await refused(port), true, 'nothing listens any more');
});

test('a stop while the first request builds the app waits for the build, closes the app, and ends', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let closed = 0;
  const g = await startLazy(async (deps, server) => {
    await gate;
    const app = await loadApp(deps, server);
    return { handler: app.handler, close: async () => (closed++, app.close()) };
  });
  const port = g.gw.services.get('http/api')!.port;
  const first = fetch(`${g.api}/api/v5/status`).then((r) => r.status, () => 'connection closed');
  await until(() => g.loads() === 1, 'the first request starts the build');
  const stopped = g.stop();
  // The waiting request's connection is closed by the stop, before the build has finished.
  assert.equal(await first, 'connection closed');
  release();
  await stopped;
  assert.equal(closed, 1, 'the app built during the stop is closed');
  assert.equal(await refused(port), true);
});

test('a build that fails answers 503 with one log line, and the next request builds it again', async () => {
  let fail = true;
  const g = await startLazy(async (deps, server) => {
    if (fail) {
      fail = false;
      throw new Error('injected build failure');
    }
    return loadApp(deps, server);
  });
  try {
    const bad = await fetch(`${g.api}/api/v5/status`);
    assert.equal(bad.status, 503);
    assert.equal((await json(bad)).code, 'SERVICE_UNAVAILABLE');
    const errors = g.lines.filter((l) => l.level >= 50);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.msg, /^HTTP API: cannot load its routes/);
    assert.equal(errors[0]!.err, 'injected build failure');
    const good = await fetch(`${g.api}/api/v5/status?format=json`);
    assert.equal(good.status, 200);
    assert.equal((await json(good)).broker_status, 'started');
    assert.equal(g.loads(), 2);
    assert.equal(loadedLines(g).length, 1);
  } finally {
    await g.stop();
  }
});

test('more than 64 first requests during the build: 64 wait and are answered, the others get 503 with Retry-After at once; one build', async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const g = await startLazy(async (deps, server) => (await gate, loadApp(deps, server)));
  try {
    const early: number[] = [];
    const replies = Array.from({ length: 70 }, () =>
      fetch(`${g.api}/api/v5/status?format=json`).then(async (r) => {
        early.push(r.status);
        return { status: r.status, retryAfter: r.headers.get('retry-after'), body: await json(r) };
      }),
    );
    // The ones over the bound are answered while the build is held: then 64 are waiting.
    await until(() => early.length === 6, 'the 6 requests over the bound answered during the build');
    assert.deepEqual(early, [503, 503, 503, 503, 503, 503]);
    release();
    const all = await Promise.all(replies);
    const ok = all.filter((r) => r.status === 200);
    const refusedNow = all.filter((r) => r.status === 503);
    assert.equal(ok.length, 64);
    assert.ok(ok.every((r) => r.body.broker_status === 'started'));
    assert.equal(refusedNow.length, 6);
    for (const r of refusedNow) {
      assert.equal(r.retryAfter, '1');
      assert.equal(r.body.code, 'SERVICE_UNAVAILABLE');
    }
    assert.equal(g.loads(), 1, 'one build');
  } finally {
    await g.stop();
  }
});

test('three builds that fail in ready() leave no listener behind on the server; the fourth serves', async () => {
  let server: Server | undefined;
  let counts: [number, number] | undefined;
  const listeners = (s: Server): [number, number] => [s.listenerCount('request'), s.listenerCount('clientError')];
  let failures = 3;
  const g = await startLazy((deps, s) => {
    server = s;
    counts ??= listeners(s);
    // After buildApp attached fastify to the server: a plugin whose loading fails fails ready().
    const fail = failures-- > 0 ? (app: FastifyInstance) => void app.register(async () => Promise.reject(new Error('injected plugin failure'))) : undefined;
    return loadApp(deps, s, fail);
  });
  try {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 503);
    assert.deepEqual(listeners(server!), counts, 'request and clientError listeners as before the builds');
    const errors = g.lines.filter((l) => l.level >= 50);
    assert.equal(errors.length, 1, 'one line for the three (rate-limited)');
    assert.equal(errors[0]!.err, 'injected plugin failure');
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
    assert.equal(g.loads(), 4);
    assert.deepEqual(listeners(server!), [counts![0], counts![1] + 1], "fastify's clientError listener, once");
  } finally {
    await g.stop();
  }
});

test('a build that hangs: its waiting requests get 503 after the bound, one line, and the next request builds again', { timeout: 60_000 }, async () => {
  const g = await startLazy((deps, server) => (g.loads() === 1 ? new Promise(() => {}) : loadApp(deps, server)), { buildTimeoutMs: 200 });
  try {
    const [a, b] = await Promise.all([fetch(`${g.api}/api/v5/status`), fetch(`${g.api}/api/v5/status`)]);
    assert.deepEqual([a.status, b.status], [503, 503]);
    assert.equal((await json(a)).code, 'SERVICE_UNAVAILABLE');
    await b.text();
    const errors = g.lines.filter((l) => l.level >= 50);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!.msg, /^HTTP API: cannot load its routes/);
    assert.equal(errors[0]!.err, 'not loaded within 0.2 s');
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
    assert.equal(g.loads(), 2);
  } finally {
    await g.stop();
  }
});

test('a stop while a build hangs ends within the bound', { timeout: 60_000 }, async () => {
  const g = await startLazy(() => new Promise(() => {}), { buildTimeoutMs: 200 });
  const port = g.gw.services.get('http/api')!.port;
  const first = fetch(`${g.api}/api/v5/status`).then((r) => r.status, () => 'connection closed');
  await until(() => g.loads() === 1, 'the first request starts the build');
  await g.stop();
  assert.equal(await first, 'connection closed');
  assert.equal(await refused(port), true);
});

test('a build that ends after its bound is used: the next request needs no build', { timeout: 60_000 }, async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const g = await startLazy(async (deps, server) => (await gate, loadApp(deps, server)), { buildTimeoutMs: 200 });
  try {
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 503);
    release();
    await until(() => g.plane.running?.built === true, 'the late build is used');
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
    assert.equal(g.loads(), 1);
    assert.equal(loadedLines(g).length, 1);
  } finally {
    await g.stop();
  }
});

test('a request never sent in full is answered 408 once requestTimeout passes; a live tail open longer is not', { timeout: 60_000 }, async () => {
  const g = await startLazy(loadApp, { requestTimeoutMs: 300 });
  try {
    const port = g.gw.services.get('http/api')!.port;
    const tail = await fetch(`${g.api}/api/v5/tail?topic=t/%23`, { headers: { authorization: g.auth } });
    assert.equal(tail.status, 200);
    const reader = tail.body!.getReader();
    let events = '';
    const read = async (what: RegExp) => {
      while (!what.test(events)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`the tail ended; got ${events}`);
        events += Buffer.from(value).toString();
      }
    };
    await read(/event: ready/);
    const s = tcpConnect(port, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString()));
    s.on('error', () => {});
    await new Promise((r) => s.once('connect', r));
    s.write('GET /api/v5/status HTTP/1.1\r\nHost: x\r\n');
    await new Promise((r) => s.once('close', r));
    assert.match(got, /^HTTP\/1\.1 408/);
    // The check that cut the slow request off came after the bound had passed for the tail too.
    const sent = await fetch(`${g.api}/api/v5/publish`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: g.auth }, body: JSON.stringify({ topic: 't/after', payload: 'x' }) });
    assert.equal(sent.status, 202);
    await read(/"topic":"t\/after"/);
    await reader.cancel();
  } finally {
    await g.stop();
  }
});

test('an accept error (EMFILE) is logged once and the API keeps serving', async () => {
  let server: Server | undefined;
  const g = await startLazy((deps, s) => ((server = s), loadApp(deps, s)));
  try {
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
    // What net.Server emits when accept() fails; the process must neither crash nor stop listening.
    for (let i = 0; i < 3; i++) server!.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', errno: -24, syscall: 'accept' }));
    const warned = g.lines.filter((l) => l.msg.startsWith('HTTP API: cannot accept a connection'));
    assert.equal(warned.length, 1);
    assert.equal(warned[0]!.err, 'accept EMFILE');
    assert.equal((await fetch(`${g.api}/api/v5/status`)).status, 200);
  } finally {
    await g.stop();
  }
});

async function ipv6Loopback(): Promise<boolean> {
  const s = createTcpServer();
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

test('with host localhost the API listens on 127.0.0.1 and ::1, as fastify did', async (t) => {
  if (!(await ipv6Loopback())) return t.skip('this machine has no IPv6 loopback (::1 cannot be bound)');
  const resolved = (await dnsLookup('localhost', { all: true })).map((a) => a.address);
  // Where this machine's resolver gives localhost one address (/etc/hosts without ::1), the
  // lookup is given the two a stock Debian or Raspberry Pi OS gives, so both bindings are tested.
  const both = resolved.includes('127.0.0.1') && resolved.includes('::1');
  if (!both) t.diagnostic(`localhost resolves to ${resolved.join(', ')} here: testing with a lookup that gives 127.0.0.1 and ::1`);
  const lookup = both ? undefined : async () => [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];
  const g = await startLazy(loadApp, { host: 'localhost', lookup });
  const port = g.gw.services.get('http/api')!.port;
  try {
    const [v4, v6] = await Promise.all([fetch(`http://127.0.0.1:${port}/api/v5/status?format=json`), fetch(`http://[::1]:${port}/api/v5/status?format=json`)]);
    assert.equal(v4.status, 200);
    assert.equal(v6.status, 200);
    assert.equal((await json(v4)).broker_status, 'started');
    assert.equal((await json(v6)).broker_status, 'started');
    assert.equal(g.loads(), 1, 'one app for both');
  } finally {
    await g.stop();
  }
  const v6closed = await new Promise((resolve) => {
    const s = tcpConnect(port, '::1');
    s.once('connect', () => (s.destroy(), resolve(false)));
    s.once('error', () => resolve(true));
  });
  assert.equal(v6closed, true, 'the stop closes the ::1 listener too');
});
