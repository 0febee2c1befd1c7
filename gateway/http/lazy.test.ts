// The HTTP API's port is bound at start and its app (fastify and the routes, server.ts) is built
// by the first request (listener.ts): first requests, concurrent ones, auth on them, a stop before
// any request and during the build, and a build that fails once. Real HTTP on port 0.
import assert from 'node:assert/strict';
import { connect as tcpConnect } from 'node:net';
import { test } from 'node:test';
import type { ComponentDefinition } from '../app/component.ts';
import { startGateway, until, type LogLine, type TestGateway } from '../test/helpers.ts';
import { ApiKeyStore } from './apikeys.ts';
import { ManagementPlane } from './component.ts';
import type { AppLoader } from './listener.ts';
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

/** A gateway with the HTTP API on all addresses (port 0), built by `load` (default: the real one). */
async function startLazy(load: AppLoader = loadApp): Promise<LazyGateway> {
  let plane: ManagementPlane | undefined;
  let loads = 0;
  const counted: AppLoader = (deps, server) => (loads++, load(deps, server));
  const http: ComponentDefinition = { name: 'http', provides: ['http/api'], enabled: () => true, create: async (cfg) => (plane = new ManagementPlane(cfg.http, { loadApp: counted })) };
  const lines: LogLine[] = [];
  const g = await startGateway({ http: { enabled: true, host: '0.0.0.0', port: 0 } }, [], undefined, [http], lines);
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
