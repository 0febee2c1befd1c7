import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { Component, ComponentContext, ComponentDefinition } from '../app/component.ts';
import { hashPassword } from '../auth/password.ts';
import type { AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import { collect, connect, endClient, startGateway, until, type TestGateway } from './helpers.ts';

// A test component and a test adapter, run by the real gateway: the component reads the view and
// uses the controls as the HTTP API would.
const schema = z.strictObject({ enabled: z.boolean().default(false) });
const starts: string[] = [];
let adapterCtx: AdapterContext | undefined;
const dev = { protocol: 'meter', transport: 'udp' as const, id: 'm1', address: '10.0.0.9:5683' };
const meter: AdapterDefinition<typeof schema> = {
  name: 'meter',
  configSchema: schema,
  create: () => ({
    async start(ctx) {
      starts.push('meter');
      adapterCtx = ctx;
      ctx.messages.deviceConnected(dev);
    },
    async stop() {},
    async disconnect(id, reason) {
      if (id !== dev.id) return false;
      adapterCtx?.messages.deviceDisconnected(dev, reason);
      return true;
    },
  }),
};

let probeCtx: ComponentContext | undefined;
let probeFailures = 1;
const probe: ComponentDefinition = {
  name: 'probe',
  enabled: () => true,
  create: async (): Promise<Component> => ({
    async start(ctx) {
      starts.push('probe');
      if (probeFailures-- > 0) throw new Error('sink not reachable yet');
      probeCtx = ctx;
    },
    async stop() {},
  }),
};

describe('a component list given to the gateway', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ adapters: { meter: { enabled: true } }, auth: { users: [{ username: 'ops', password_hash: await hashPassword('hunter22') }] } }, [meter], { backoffInitial: 20, backoffMax: 50 }, [probe]);
  });
  after(() => g.stop());

  test('a component that fails to start is restarted with backoff; adapters start first', async () => {
    await until(() => probeCtx !== undefined, 'probe running after a retry');
    assert.deepEqual(starts.slice(0, 3), ['meter', 'probe', 'probe']);
    const h = g.gw.components();
    assert.deepEqual([h[0]!.name, h[0]!.state, h[0]!.restarts, h[0]!.last_error], ['probe', 'running', 1, 'sink not reachable yet']);
  });

  test('the view reads adapters, devices, services and the redacted config', () => {
    const v = probeCtx!.view;
    assert.deepEqual(v.adapters().map((a) => [a.name, a.state]), [['meter', 'running']]);
    assert.deepEqual(v.components().map((a) => a.name), ['probe']);
    assert.equal(v.devices('meter')[0]?.id, 'm1');
    const users = (v.config().auth as { users: { username: string; password_hash: string }[] }).users;
    assert.deepEqual(users, [{ username: 'ops', password_hash: '[redacted]' }]);
    assert.deepEqual(v.services(), []);
  });

  test('controls: disconnect a device, restart an adapter, disconnect an MQTT client', async () => {
    const c = probeCtx!.controls;
    const mqtt = await connect(g.url, { clientId: 'watcher' });
    await mqtt.subscribeAsync('$SYS/brokers/+/gateway/meter/clients/m1/disconnected');
    const gone = collect(mqtt, 1);
    assert.equal(await c.disconnectDevice('meter', 'm1'), 'ok');
    assert.equal(JSON.parse((await gone)[0]!.payload).reason, 'kicked');
    assert.equal(await c.disconnectDevice('meter', 'nobody'), 'not_found');
    assert.equal(await c.disconnectDevice('coap', 'x'), 'not_found', 'no such adapter running');

    const before = starts.filter((s) => s === 'meter').length;
    assert.equal(await c.restartAdapter('meter'), true);
    assert.equal(starts.filter((s) => s === 'meter').length, before + 1);
    assert.equal(g.gw.health()[0]!.state, 'running');
    assert.equal(await c.restartAdapter('probe'), false, 'a component is not an adapter');
    assert.equal(await c.restartAdapter('nope'), false);

    const closed = new Promise<void>((r) => mqtt.once('close', () => r()));
    assert.equal(c.disconnectClient('watcher'), true);
    await closed;
    assert.equal(c.disconnectClient('watcher'), false);
    await endClient(mqtt);
  });
});

test('the HTTP API retries a taken port and comes up when it is free, while the gateway runs', async () => {
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  const port = (blocker.address() as { port: number }).port;
  const g = await startGateway({ http: { enabled: true, host: '127.0.0.1', port } }, [], { backoffInitial: 20, backoffMax: 50 });
  try {
    assert.equal(g.gw.components()[0]!.state, 'unhealthy');
    assert.match(g.gw.components()[0]!.last_error!, /cannot start the HTTP API on 127\.0\.0\.1:\d+: address already in use/);
    const c = await connect(g.url); // the broker serves meanwhile
    await endClient(c);
    await new Promise((r) => blocker.close(r));
    await until(() => g.gw.services.get('http/api') !== undefined, 'HTTP API up');
    const res = await fetch(`${g.gw.services.get('http/api')!.url}/api/v5/status`);
    assert.equal(res.status, 200);
  } finally {
    await g.stop();
  }
});
