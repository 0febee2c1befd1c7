import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DeliveredMessage } from '../core/message.ts';
import { connect, endClient, startGateway, tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { Mosquitto, MOSQUITTO } from './test/mosquitto.ts';

// Issue 12 item 7 (bridge side): a cloud downlink's MQTT 5 message expiry interval reaches
// in-process subscribers (adapters) as `messageExpiryInterval`, for use as a command's expiry.

const skip = missingTool(MOSQUITTO, 'mosquitto');

test('downlink: the MQTT 5 message expiry interval of a cloud message reaches in-process subscribers', { skip }, async () => {
  const work = tempDir('fieldgate-downlink-');
  const cloud = await Mosquitto.create(work.path);
  await cloud.start();
  const upstream = { name: 'cloud', servers: [cloud.url], backoff: { initial: '50ms', max: '200ms' }, downlink: [{ remote: '{prefix}/down/#', local: '{rest}' }] };
  const gw = await startGateway({ bridge: { upstreams: [upstream] } });
  const inProcess: DeliveredMessage[] = [];
  const remove = await gw.gw.broker.subscribe('cmd/#', (m) => inProcess.push(m));
  // An MQTT 3.1.1 client on the local broker still gets both (the property is not on its wire).
  const local = await connect(gw.url);
  const localGot: string[] = [];
  local.on('message', (t, p) => localGot.push(`${t}=${p}`));
  await local.subscribeAsync('cmd/#', { qos: 1 });
  const sender = await connect(cloud.url, { protocolVersion: 5 });
  try {
    await until(() => gw.gw.metrics.snapshot()['bridge/upstreams/cloud/downlink_subscribed'] === 1, 'downlink SUBACK');
    await sender.publishAsync('fieldgate/fieldgate/down/cmd/reboot', 'now', { qos: 1, properties: { messageExpiryInterval: 120 } });
    await sender.publishAsync('fieldgate/fieldgate/down/cmd/led', 'on', { qos: 1 });
    await until(() => inProcess.length === 2 && localGot.length === 2, 'both downlinks delivered locally');
    const [reboot, led] = inProcess;
    assert.equal(reboot!.topic, 'cmd/reboot');
    // Mosquitto passes on what is left of it: at most 120 s, and more than 0 this soon after.
    assert.ok(reboot!.messageExpiryInterval! > 0 && reboot!.messageExpiryInterval! <= 120, `expiry ${reboot!.messageExpiryInterval}`);
    assert.equal(led!.topic, 'cmd/led');
    assert.equal(led!.messageExpiryInterval, undefined, 'no expiry when the cloud set none');
    assert.deepEqual(localGot.sort(), ['cmd/led=on', 'cmd/reboot=now']);
  } finally {
    await remove();
    await endClient(sender);
    await endClient(local);
    await gw.stop();
    await cloud.stop();
    work.remove();
  }
});
