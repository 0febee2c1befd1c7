import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { startChild, stopChild } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { CloudSubscriber } from '../bridge/test/cloud.ts';
import { Mosquitto, MOSQUITTO } from '../bridge/test/mosquitto.ts';

// Issue 17 item 12: the will of a persistent session is kept with it. A gateway killed (-9) while
// the client is connected ended that connection without DISCONNECT, so the will is owed: the next
// start publishes it (aedes' rule for wills whose broker is gone), once the bridge is up, through
// the ingress path (ACL, bridge log) like any publish, so an offline persistent subscriber finds it
// queued, a retained will is stored and the cloud gets it. A client that sent DISCONNECT has no will
// left; a clean stop keeps the wills for the next start, published once.

const tmp = tempDir('fieldgate-durable-wills-');
after(() => tmp.remove());

async function device(url: string, id: string, retain = false): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { clientId: id, clean: false, reconnectPeriod: 0, will: { topic: `status/${id}`, payload: Buffer.from(`${id} gone`), qos: 1, retain } });
  c.on('error', () => {});
  return c;
}

/** The persistent watcher's messages on status/#, up to a marker published after it reconnected. */
async function watcher(url: string): Promise<string[]> {
  const got: string[] = [];
  const c = mqtt.connect(url, { clientId: 'watcher', clean: false, reconnectPeriod: 0 });
  c.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
  await new Promise((r) => c.once('connect', r));
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await pub.publishAsync('status/marker', 'm', { qos: 1 });
  await pub.endAsync();
  await until(() => got.includes('status/marker=m'), 'the marker');
  await c.endAsync();
  return got.filter((g) => g !== 'status/marker=m');
}

test('wills of persistent sessions: published at the start after a kill -9 (queued, retained), never for a client that sent DISCONNECT, once after a clean stop', async () => {
  const config = join(tmp.path, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  let gw = await startChild(config);
  try {
    const w = await mqtt.connectAsync(gw.url, { clientId: 'watcher', clean: false, reconnectPeriod: 0 });
    await w.subscribeAsync('status/#', { qos: 1 });
    await w.endAsync(); // offline from now on: what it is owed is queued

    const sys = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    let bGone = false;
    sys.on('message', () => (bGone = true));
    await sys.subscribeAsync('$SYS/brokers/+/clients/dev-b/disconnected');
    const b = await device(gw.url, 'dev-b');
    await b.endAsync(); // DISCONNECT: its will is discarded [MQTT-3.1.2-10]
    await until(() => bGone, 'dev-b disconnected at the gateway');
    await sys.endAsync();
    // dev-a's CONNACK waits for its will on disk, and so for every record before it (dev-b's deletion).
    await device(gw.url, 'dev-a', true); // connected when the gateway dies
    await stopChild(gw.child, 'SIGKILL');

    gw = await startChild(config);
    assert.match(gw.child.output.stdout, /broker persistence: published 1 will messages of persistent sessions/);
    assert.deepEqual(await watcher(gw.url), ['status/dev-a=dev-a gone']);
    const probe = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    const retained: string[] = [];
    probe.on('message', (t, p, packet) => packet.retain && retained.push(`${t}=${p.toString()}`));
    await probe.subscribeAsync('status/dev-a', { qos: 1 });
    await until(() => retained.length === 1, 'the retained will');
    assert.deepEqual(retained, ['status/dev-a=dev-a gone']);
    await probe.endAsync();

    // A clean stop while dev-c is connected: its will goes out at the next start, once.
    await device(gw.url, 'dev-c');
    await stopChild(gw.child, 'SIGTERM');
    gw = await startChild(config);
    assert.match(gw.child.output.stdout, /broker persistence: published 1 will messages of persistent sessions/);
    assert.deepEqual(await watcher(gw.url), ['status/dev-c=dev-c gone']);
    await stopChild(gw.child, 'SIGTERM');
    gw = await startChild(config);
    assert.doesNotMatch(gw.child.output.stdout, /published \d+ will messages/);
    assert.deepEqual(await watcher(gw.url), []);
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});

test('kill -9, restart: a restored will reaches the cloud through the bridge, once, and the ACL applies to it', { skip: missingTool(MOSQUITTO, 'mosquitto') }, async () => {
  const dir = join(tmp.path, 'bridged');
  mkdirSync(dir);
  const cloud = await Mosquitto.create(dir);
  await cloud.start();
  const sub = await CloudSubscriber.connect(cloud.url, 'fieldgate/+/devices/#');
  const config = join(dir, 'fg.yaml');
  const acl = `auth:\n  acl:\n    - { permission: deny, clientid: dev-x, action: publish, topics: ['devices/#'] }\n`;
  const bridge = `bridge:\n  upstreams:\n    - name: cloud\n      servers: ["${cloud.url}"]\n      backoff: { initial: 50ms, max: 200ms }\n`;
  writeFileSync(config, `gateway:\n  data_dir: ${join(dir, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n${acl}${bridge}`);
  let gw = await startChild(config);
  try {
    for (const id of ['dev-a', 'dev-x']) {
      await mqtt.connectAsync(gw.url, { clientId: id, clean: false, reconnectPeriod: 0, will: { topic: `devices/${id}/state`, payload: Buffer.from(`${id} gone`), qos: 1, retain: false } });
    }
    await stopChild(gw.child, 'SIGKILL'); // both connected: both wills are owed

    gw = await startChild(config);
    // A marker published after the start: once it is in the cloud, so is everything before it.
    const pub = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    await pub.publishAsync('devices/marker', 'm', { qos: 1 });
    await pub.endAsync();
    await until(() => sub.got.some((m) => m.payload === 'm'), 'the marker in the cloud');
    // dev-a's will once; dev-x's refused by the ACL (publish to devices/# denied for it).
    assert.deepEqual(sub.got.map((m) => `${m.topic.split('/').slice(2).join('/')}=${m.payload}`), ['devices/dev-a/state=dev-a gone', 'devices/marker=m']);
    assert.match(gw.child.output.stdout, /published 1 will messages/);
    assert.match(gw.child.output.stdout, /will of a persistent session \(from the last run\) denied by ACL/);
  } finally {
    await stopChild(gw.child, 'SIGKILL');
    await sub.end();
    await cloud.stop();
  }
});
