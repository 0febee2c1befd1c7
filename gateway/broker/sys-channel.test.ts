import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { z } from 'zod';
import type { AdapterContext, AdapterDefinition } from '../core/adapter.ts';
import { connect, endClient, startGateway, until, type TestGateway } from '../test/helpers.ts';
import { checkSysScope, checkSysScopes } from './sys.ts';

// An adapter's own $SYS subtree (AdapterDefinition.sysScope, AdapterContext.sys): one level the
// gateway's own $SYS topics (and EMQX's alarms/sysmon) do not use, writable only below it.

test('checkSysScope: one lower-case level, none of the reserved ones', () => {
  for (const ok of ['modems', 'ble', 'radio_2', 'lo-ra']) assert.doesNotThrow(() => checkSysScope(ok), ok);
  for (const reserved of ['clients', 'gateway', 'state', 'stats', 'metrics', 'uptime', 'version', 'datetime', 'sysdescr', 'alarms', 'sysmon']) {
    assert.throws(() => checkSysScope(reserved), /not used by the gateway's own \$SYS topics/, reserved);
  }
  for (const bad of ['', 'a/b', '+', '#', 'mod+ems', 'Modems', '1st', 'a b', 'x\u0000']) assert.throws(() => checkSysScope(bad), /must be one lower-case topic level/, JSON.stringify(bad));
});

test('checkSysScopes: two adapters may not share a scope', () => {
  assert.doesNotThrow(() => checkSysScopes([{ name: 'a', sysScope: 'one' }, { name: 'b', sysScope: 'two' }, { name: 'c' }]));
  assert.throws(() => checkSysScopes([{ name: 'a', sysScope: 'one' }, { name: 'b', sysScope: 'one' }]), /adapters a and b both declare sysScope "one"/);
  assert.throws(() => checkSysScopes([{ name: 'a', sysScope: 'metrics' }]), /sysScope "metrics"/);
});

const schema = z.strictObject({ enabled: z.boolean().default(false) });
function probe(name: string, sysScope?: string, started?: (ctx: AdapterContext) => void): AdapterDefinition<typeof schema> {
  return {
    name,
    configSchema: schema,
    ...(sysScope !== undefined ? { sysScope } : {}),
    create: () => ({
      async start(ctx) {
        started?.(ctx);
      },
      async stop() {},
    }),
  };
}

describe('AdapterContext.sys through a real gateway', () => {
  let g: TestGateway | undefined;
  const clients: MqttClient[] = [];
  after(async () => {
    for (const c of clients) await endClient(c).catch(() => {});
    await g?.stop();
  });

  test('a reserved or shared sysScope stops the gateway before it starts', async () => {
    await assert.rejects(startGateway({ adapters: { p: { enabled: true } } }, [probe('p', 'stats')]), /sysScope "stats"/);
    await assert.rejects(startGateway({}, [probe('p', 'mine'), probe('q', 'mine')]), /adapters p and q both declare sysScope "mine"/);
  });

  test('retained values under $SYS/brokers/{node}/{scope}/; an empty payload removes one; no way out of the subtree', async () => {
    let withScope: AdapterContext | undefined;
    let without: AdapterContext | undefined;
    g = await startGateway({ gateway: { id: 'gw-s' }, adapters: { p: { enabled: true }, q: { enabled: true } } }, [probe('p', 'things', (c) => (withScope = c)), probe('q', undefined, (c) => (without = c))]);
    await until(() => withScope !== undefined && without !== undefined, 'both adapters started');
    assert.equal(without?.sys, undefined, 'no sysScope, no channel');
    const sys = withScope!.sys!;
    sys.publish('t1/state', 'up');
    sys.publish('t1/gone', 'soon');

    const sub = await connect(g.url);
    clients.push(sub);
    const got: { topic: string; payload: string; retain: boolean }[] = [];
    sub.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), retain: packet.retain }));
    await sub.subscribeAsync('$SYS/brokers/+/things/#', { qos: 0 });
    await until(() => got.length === 2, 'both retained values');
    assert.deepEqual(got.map((m) => [m.topic, m.payload, m.retain]).sort(), [
      ['$SYS/brokers/gw-s/things/t1/gone', 'soon', true],
      ['$SYS/brokers/gw-s/things/t1/state', 'up', true],
    ]);

    sys.publish('t1/gone', '');
    await until(() => got.some((m) => m.topic.endsWith('/gone') && m.payload === ''), 'the removal, live');
    const late = await connect(g.url);
    clients.push(late);
    const lateGot: string[] = [];
    late.on('message', (topic) => lateGot.push(topic));
    await late.subscribeAsync('$SYS/brokers/gw-s/things/#', { qos: 0 });
    await until(() => lateGot.includes('$SYS/brokers/gw-s/things/t1/state'), 'the retained state');
    // A marker after the retained ones: had "gone" still been retained, it would have come first.
    await late.subscribeAsync('$SYS/brokers/gw-s/uptime', { qos: 0 });
    await until(() => lateGot.includes('$SYS/brokers/gw-s/uptime'), 'the marker');
    assert.deepEqual(lateGot.filter((t) => t.includes('/things/')), ['$SYS/brokers/gw-s/things/t1/state']);

    for (const bad of ['', 't1/+', '#', 't1//x', '/t1', 't1/', 'a\u0000b', '+/state']) {
      assert.throws(() => sys.publish(bad, 'x'), /must be plain topic levels \(no wildcard, NUL or empty level\)/, JSON.stringify(bad));
    }
  });
});
