import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { connect, endClient, startGateway, until, type TestGateway } from '../test/helpers.ts';
import { mayForward } from './dollar-guard.ts';

// $SYS stats are retained (a new subscriber sees them at once) and [MQTT-4.7.2-1] holds for
// retained messages too: filters starting with a wildcard never receive $ topics. The gateway's
// state topic is retained "online" while it serves and "offline" when it stops.

test('mayForward: retained $ topics only to a filter that matches them under the MQTT rule', () => {
  assert.equal(mayForward('$SYS/brokers/gw/uptime', true, ['#']), false);
  assert.equal(mayForward('$SYS/brokers/gw/uptime', true, ['+/brokers/#']), false);
  assert.equal(mayForward('$SYS/brokers/gw/uptime', true, ['#', '$SYS/brokers/+/uptime']), true);
  assert.equal(mayForward('$SYS/brokers/gw/uptime', false, ['#']), true, 'live messages: aedes itself applies the rule');
  assert.equal(mayForward('a/b', true, ['#']), true);
});

describe('retained $SYS', () => {
  let g: TestGateway;
  const clients: MqttClient[] = [];
  after(async () => {
    for (const c of clients) await endClient(c).catch(() => {});
    if (g) await g.stop().catch(() => {});
  });

  test('a new subscriber gets the stats and state at once; # and +/... subscribers get no $ topic', async () => {
    g = await startGateway({ gateway: { id: 'gw-r' }, sys: { interval: '1h' } });
    const pub = await connect(g.url);
    clients.push(pub);
    await pub.publishAsync('plain/retained', 'x', { qos: 1, retain: true });

    const sys = await connect(g.url);
    clients.push(sys);
    const got = new Map<string, { payload: string; retain: boolean }>();
    sys.on('message', (topic, payload, packet) => got.set(topic, { payload: payload.toString(), retain: packet.retain }));
    await sys.subscribeAsync('$SYS/brokers/gw-r/#', { qos: 0 });
    await until(() => got.has('$SYS/brokers/gw-r/state') && got.has('$SYS/brokers/gw-r/uptime'), 'retained $SYS on subscribe (the interval is an hour)');
    assert.deepEqual(got.get('$SYS/brokers/gw-r/state'), { payload: 'online', retain: true });
    assert.equal(got.get('$SYS/brokers/gw-r/uptime')?.retain, true);

    const wild = await connect(g.url);
    clients.push(wild);
    const wildGot: string[] = [];
    wild.on('message', (topic) => wildGot.push(topic));
    await wild.subscribeAsync(['#', '+/brokers/#'], { qos: 0 });
    // The plain retained message arrives (so retained delivery ran); no $ topic came with it.
    await until(() => wildGot.includes('plain/retained'), 'the plain retained message');
    // A round trip after it: anything retained that aedes streams for the SUBSCRIBE has arrived.
    await wild.publishAsync('plain/marker', 'm', { qos: 1 });
    await until(() => wildGot.includes('plain/marker'), 'a marker after the retained messages');
    assert.deepEqual(wildGot.filter((t) => t.startsWith('$')), []);
  });

  test('stopping publishes the retained state "offline" to connected subscribers', async () => {
    const watcher = await connect(g.url);
    clients.push(watcher);
    const states: string[] = [];
    watcher.on('message', (topic, payload) => topic.endsWith('/state') && states.push(payload.toString()));
    await watcher.subscribeAsync('$SYS/brokers/gw-r/state', { qos: 0 });
    await until(() => states.includes('online'), 'online');
    await g.stop();
    await until(() => states.includes('offline'), 'offline before the connection closed');
  });
});
