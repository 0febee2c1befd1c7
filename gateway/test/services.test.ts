import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { z } from 'zod';
import type { AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import type { DatagramTransport } from '../core/datagram.ts';
import { memoryDatagram } from './datagram-pair.ts';
import { startGateway, until, type TestGateway } from './helpers.ts';

// Two test adapters wired only through ctx.services: "radio" provides a datagram transport,
// "listener" (listed first) uses it. The supervisor must start radio first, and re-wire listener
// when radio restarts.
const schema = z.strictObject({ enabled: z.boolean().default(false) });
const order: string[] = [];
let radioCtx: AdapterContext | undefined;
const seen: (string | undefined)[] = [];
const instances: DatagramTransport[] = [];

const listener: AdapterDefinition<typeof schema> = {
  name: 'listener',
  configSchema: schema,
  uses: ['datagram/'],
  create: () => ({
    async start(ctx) {
      order.push('listener');
      ctx.services.watchPrefix('datagram/', (name, t) => {
        seen.push(t ? `${name} up` : `${name} gone`);
        if (t) instances.push(t);
      });
    },
    async stop() {},
  }),
};

const radio: AdapterDefinition<typeof schema> = {
  name: 'radio',
  configSchema: schema,
  provides: ['datagram/'],
  create: () => {
    let mem: ReturnType<typeof memoryDatagram> | undefined;
    return {
      async start(ctx) {
        order.push('radio');
        radioCtx = ctx;
        mem = memoryDatagram({ name: 'nb0' });
        ctx.services.provide('datagram/nb0', mem.transport);
      },
      async stop() {
        await mem?.transport.close('stopped');
      },
    };
  },
};

describe('services between adapters', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({ adapters: { listener: { enabled: true }, radio: { enabled: true } } }, [listener, radio], { backoffInitial: 20, backoffMax: 50 });
  });
  after(() => g.stop());

  test('the provider starts before its user, whatever the list order', () => {
    assert.deepEqual(order, ['radio', 'listener']);
    assert.deepEqual(seen, ['datagram/nb0 up']);
  });

  test('a provider that fails is withdrawn, and its restart re-wires the user', async () => {
    radioCtx!.fail(new Error('modem vanished'));
    await until(() => seen.length === 3, 'listener to see the transport go and come back');
    assert.deepEqual(seen, ['datagram/nb0 up', 'datagram/nb0 gone', 'datagram/nb0 up']);
    assert.notEqual(instances[0], instances[1], 'a new instance after the restart');
    assert.equal(instances[0]!.closed, true);
    assert.deepEqual(g.gw.services.list(), [{ name: 'datagram/nb0', owner: 'radio' }]);
    await until(() => g.gw.health().every((h) => h.state === 'running'), 'both running');
  });
});

test('a required service nobody provides stops the gateway from starting, with the reason', async () => {
  const needy: AdapterDefinition<typeof schema> = { ...listener, name: 'needy', uses: [], requires: ['datagram/nb9'] };
  await assert.rejects(startGateway({ adapters: { needy: { enabled: true } } }, [needy]), /needy requires the service datagram\/nb9, which no enabled adapter or component provides/);
});
