import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { hashPassword, verifyPassword } from '../auth/password.ts';
import { collect, connect, connectError, endClient, startGateway, subackCodes, until, type TestGateway } from './helpers.ts';

describe('password hashes', () => {
  test('a hash verifies its password and no other; two hashes of one password differ (salted)', async () => {
    const h1 = await hashPassword('correct horse');
    const h2 = await hashPassword('correct horse');
    assert.notEqual(h1, h2);
    assert.match(h1, /^\$scrypt\$N=16384,r=8,p=1\$/);
    assert.equal(await verifyPassword('correct horse', h1), true);
    assert.equal(await verifyPassword('correct horse', h2), true);
    assert.equal(await verifyPassword('wrong', h1), false);
    assert.equal(await verifyPassword('correct horse', 'not a hash'), false);
  });
});

describe('authentication and ACL over real TCP', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway({
      auth: {
        allow_anonymous: 'never',
        users: [
          { username: 'dev', password_hash: await hashPassword('devpw') },
          { username: 'ops', password_hash: await hashPassword('opspw') },
        ],
        acl: [
          { permission: 'allow', user: 'dev', action: 'publish', topics: ['devices/%c/up'] },
          { permission: 'allow', user: 'dev', action: 'subscribe', topics: ['devices/%c/down'] },
          { permission: 'deny', user: 'ops', action: 'subscribe', topics: ['secret/#'] },
          { permission: 'allow', user: 'ops', topics: ['#'] },
          { permission: 'deny', topics: ['#'] },
        ],
      },
    });
  });
  after(() => g.stop());

  test('wrong password and unknown user are refused with CONNACK 4; anonymous with 5', async () => {
    assert.equal((await connectError(g.url, { username: 'dev', password: 'nope' })).code, 4);
    assert.equal((await connectError(g.url, { username: 'ghost', password: 'x' })).code, 4);
    assert.equal((await connectError(g.url, {})).code, 5);
    const ok = await connect(g.url, { username: 'dev', password: 'devpw', clientId: 'd1' });
    await endClient(ok);
  });

  test('%c lets a device publish only to its own topic; a denied publish reaches no subscriber', async () => {
    const ops = await connect(g.url, { username: 'ops', password: 'opspw' });
    await ops.subscribeAsync('devices/#', { qos: 1 });
    const received: string[] = [];
    ops.on('message', (t) => received.push(t));
    const dev = await connect(g.url, { username: 'dev', password: 'devpw', clientId: 'd1' });
    await dev.publishAsync('devices/d1/up', 'mine', { qos: 1 });
    await until(() => received.includes('devices/d1/up'), 'own publish delivered');
    const closed = new Promise<void>((r) => dev.once('close', () => r()));
    dev.publish('devices/d2/up', 'not mine', { qos: 1 });
    await closed; // aedes closes a client whose publish is denied [MQTT-3.3.5-2]
    dev.end(true);
    // A later message proves the denied one had its chance to arrive and did not.
    await ops.publishAsync('devices/marker', 'x', { qos: 1 });
    await until(() => received.includes('devices/marker'), 'marker');
    assert.deepEqual(received, ['devices/d1/up', 'devices/marker']);
    assert.ok(g.gw.metrics.snapshot()['messages/dropped/not_authorized']! >= 1);
    await endClient(ops);
  });

  test('a client id with wildcards cannot widen a %c rule', async () => {
    const evil = await connect(g.url, { username: 'dev', password: 'devpw', clientId: '+' });
    assert.deepEqual(await subackCodes(evil, ['devices/victim/down']), [128]);
    const closed = new Promise<void>((r) => evil.once('close', () => r()));
    evil.publish('devices/victim/up', 'spoofed', { qos: 1 });
    await closed;
    evil.end(true);
  });

  test('a denied subscribe gets SUBACK 0x80; an allowed one its QoS', async () => {
    const dev = await connect(g.url, { username: 'dev', password: 'devpw', clientId: 'd7' });
    assert.deepEqual(await subackCodes(dev, ['devices/d7/down', 'devices/d8/down']), [0, 128]);
    await endClient(dev);
    const ops = await connect(g.url, { username: 'ops', password: 'opspw' });
    // A deny rule on secret/# refuses what it covers; a wider filter is granted and the denied
    // topics are filtered out at delivery (Mosquitto's semantics).
    assert.deepEqual(await subackCodes(ops, ['secret/x', '#', 'public/#']), [128, 0, 0]);
    const got = collect(ops, 1);
    const pub = await connect(g.url, { username: 'ops', password: 'opspw' });
    await pub.publishAsync('secret/x', 'no', { qos: 1 });
    await pub.publishAsync('open/x', 'yes', { qos: 1 });
    assert.deepEqual(await got, [{ topic: 'open/x', payload: 'yes' }]);
    await Promise.all([endClient(ops), endClient(pub)]);
  });
});

describe('anonymous and $SYS defaults', () => {
  let g: TestGateway;
  before(async () => {
    g = await startGateway();
  });
  after(() => g.stop());

  test('loopback clients connect anonymously and may read $SYS', async () => {
    const c = await connect(g.url);
    assert.deepEqual(await subackCodes(c, ['$SYS/brokers/#']), [0]);
    const got = collect(c, 1);
    g.gw.sys.publishStats();
    assert.match((await got)[0]!.topic, /^\$SYS\/brokers/);
    await endClient(c);
  });
});
