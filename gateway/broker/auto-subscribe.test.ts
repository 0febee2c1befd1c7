import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hashPassword } from '../auth/password.ts';
import { startGateway, type TestGateway } from '../test/helpers.ts';
import { PUBACK, PUBLISH, RawClient, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';

// Issue 17 item 14: broker.auto_subscribe (EMQX's auto_subscribe) with %c / %u, QoS, ACL applied.

let g: TestGateway;
before(async () => {
  g = await startGateway({
    broker: { auto_subscribe: [{ topic: 'devices/%c/cmd', qos: 1 }, { topic: 'users/%u/inbox', qos: 0 }, { topic: 'devices/%c/secret' }, { topic: '%c/#' }] },
    auth: {
      users: [{ username: 'ann', password_hash: await hashPassword('pw') }],
      acl: [{ permission: 'deny', action: 'subscribe', topics: ['devices/+/secret'] }],
    },
  });
});
after(() => g.stop());

async function publish(topic: string, payload: string, retain = false): Promise<void> {
  const { client } = await RawClient.connect(g.port, { clientId: `p-${Math.random()}` });
  client.send(publishPacket(topic, payload, 1, 1, retain));
  await client.next(PUBACK);
  client.end();
}

test('topics are subscribed at connect with %c/%u expanded and their QoS, without a SUBSCRIBE', async () => {
  await publish('devices/dev-7/cmd', 'retained-cmd', true);
  const { client, code } = await RawClient.connect(g.port, { clientId: 'dev-7', username: 'ann', password: 'pw' });
  assert.equal(code, 0);
  const retained = parsePublish(await client.next(PUBLISH));
  assert.deepEqual([retained.topic, retained.payload.toString(), retained.retain], ['devices/dev-7/cmd', 'retained-cmd', true]);
  client.send(pubackPacket(retained.id!));
  await publish('devices/dev-7/secret', 'denied by the ACL');
  await publish('devices/dev-7/cmd', 'go');
  const cmd = parsePublish(await client.next(PUBLISH));
  assert.deepEqual([cmd.topic, cmd.payload.toString(), cmd.qos], ['devices/dev-7/cmd', 'go', 1]);
  client.send(pubackPacket(cmd.id!));
  await publish('users/ann/inbox', 'hello');
  const inbox = parsePublish(await client.next(PUBLISH));
  assert.deepEqual([inbox.topic, inbox.qos], ['users/ann/inbox', 0]);
  // %c/# became dev-7/#; the denied secret never arrived (the next message is this one).
  await publish('dev-7/x', 'own tree');
  const own = parsePublish(await client.next(PUBLISH));
  assert.equal(own.topic, 'dev-7/x');
  assert.equal(client.packets.length, 0);
  client.end();
});

test('a client id that would widen a placeholder into $SYS gets no such subscription', async () => {
  const { client, code } = await RawClient.connect(g.port, { clientId: '$SYS' });
  assert.equal(code, 0);
  // %c/# would be $SYS/#: skipped. devices/$SYS/cmd is an ordinary topic and still works.
  g.gw.sys.publishStats();
  await publish('devices/$SYS/cmd', 'ordinary');
  const first = parsePublish(await client.next(PUBLISH));
  assert.equal(first.topic, 'devices/$SYS/cmd');
  client.end();
});
