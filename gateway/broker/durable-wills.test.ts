import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import { hashPassword } from '../auth/password.ts';
import { startChild, stopChild } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { CloudSubscriber } from '../bridge/test/cloud.ts';
import { Mosquitto, MOSQUITTO } from '../bridge/test/mosquitto.ts';
import { DurablePersistence } from './durable-persistence.ts';

// Issue 17 item 12: the will of a persistent session is kept with it. A gateway killed (-9) while
// the client is connected ended that connection without DISCONNECT, so the will is owed: the next
// start publishes it (aedes' rule for wills whose broker is gone), once the bridge is up, through
// the ingress path (ACL, bridge log) like any publish, so an offline persistent subscriber finds it
// queued, a retained will is stored and the cloud gets it. A client that sent DISCONNECT has no will
// left; a clean stop keeps the wills for the next start, published once.

const tmp = tempDir('fieldgate-durable-wills-');
const quiet = { info: () => {}, warn: () => {}, error: () => {} };
const open = (dir: string) => new DurablePersistence({ dir, log: quiet as never, maxQueued: 1000, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
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

// The review's case: a user allowed to publish only status/%c sets a retained will on another
// topic. A restored will is checked under the principal of the connection that set it (user name,
// client id for %c, address), not as nobody, after an ordinary restart.
test('restored wills: the publish ACL applies under the owner (user rule, %c) after a clean restart', async () => {
  const dir = join(tmp.path, 'acl');
  mkdirSync(dir);
  const config = join(dir, 'fg.yaml');
  const h = await hashPassword('pw');
  const auth = `auth:\n  users:\n    - { username: dev, password_hash: '${h}' }\n  acl:\n    - { permission: allow, user: dev, action: publish, topics: ['status/%c'] }\n    - { permission: deny, user: dev, action: publish, topics: ['#'] }\n`;
  writeFileSync(config, `gateway:\n  data_dir: ${join(dir, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n${auth}`);
  let gw = await startChild(config);
  try {
    for (const [id, topic] of [['d1', 'actuators/valve'], ['d2', 'status/d2']]) {
      const c = await mqtt.connectAsync(gw.url, { clientId: id, username: 'dev', password: 'pw', clean: false, reconnectPeriod: 0, will: { topic: topic!, payload: Buffer.from(`${id} will`), qos: 1, retain: true } });
      c.on('error', () => {});
    }
    await stopChild(gw.child, 'SIGTERM'); // a clean stop keeps both wills for the next start
    gw = await startChild(config);
    assert.match(gw.child.output.stdout, /broker persistence: published 1 will messages/);
    assert.match(gw.child.output.stdout, /"clientid":"d1".*denied by ACL: not published/);
    const probe = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    const got: string[] = [];
    probe.on('message', (t, p, packet) => got.push(`${t}=${p.toString()}${packet.retain ? ' (retained)' : ''}`));
    await probe.subscribeAsync(['actuators/#', 'status/#'], { qos: 1 });
    await probe.publishAsync('status/marker', 'm', { qos: 1 });
    await until(() => got.includes('status/marker=m'), 'the marker');
    assert.deepEqual(got.sort(), ['status/d2=d2 will (retained)', 'status/marker=m']);
    await probe.endAsync();
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});

// A will journaled by a version that did not keep its owner: whose publish it was is unknown, so it
// is denied (one line), even where the ACL would let anyone publish there.
test('a restored will without an owner on disk (older version) is not published', async () => {
  const dir = join(tmp.path, 'old');
  const store = open(join(dir, 'data', 'broker'));
  await store.setup({ id: 'fieldgate' });
  // No broker around it: no owner is known, so the record is written as an older version wrote it.
  await store.putWill({ id: 'old-1', clean: false }, { cmd: 'publish', topic: 'actuators/valve', payload: Buffer.from('OPEN'), qos: 1, retain: true });
  await store.close();
  const config = join(dir, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(dir, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nauth:\n  acl_nomatch: allow\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  const gw = await startChild(config);
  try {
    assert.match(gw.child.output.stdout, /"clientid":"old-1".*has no owner on disk \(written by an older version\): denied, not published/);
    assert.doesNotMatch(gw.child.output.stdout, /published \d+ will messages/);
    const probe = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    const got: string[] = [];
    probe.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
    await probe.subscribeAsync(['actuators/#', 'marker'], { qos: 1 });
    await probe.publishAsync('marker', 'm', { qos: 1 });
    await until(() => got.includes('marker=m'), 'the marker');
    assert.deepEqual(got, ['marker=m']);
    await probe.endAsync();
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});
