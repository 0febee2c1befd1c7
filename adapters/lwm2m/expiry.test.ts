// Issue 12 item 7 end to end: a command's MQTT 5 message expiry, set by an application on the
// cloud broker (a real Mosquitto), crosses the bridge downlink into the LwM2M command queue. A
// queue-mode device that sleeps past it never gets the command; it is reported as EMQX reports an
// expired command. The same rule without the bridge, on a manual clock, is in server.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Mosquitto, MOSQUITTO } from '../../gateway/bridge/test/mosquitto.ts';
import { connect, endClient, tempDir, until } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { startLwm2m, type Lwm2mGateway } from './test-support.ts';

const skip = missingTool(MOSQUITTO, 'mosquitto');
const RESP = 'lwm2m/dev-mx/up/resp';

let work: ReturnType<typeof tempDir>;
let cloud: Mosquitto;
let g: Lwm2mGateway;

before(async () => {
  if (skip) return;
  work = tempDir('fieldgate-lwm2m-expiry-');
  cloud = await Mosquitto.create(work.path);
  await cloud.start();
  const upstream = { name: 'cloud', servers: [cloud.url], protocol_version: 5, backoff: { initial: '50ms', max: '200ms' }, downlink: [{ remote: '{prefix}/down/#', local: '{rest}' }] };
  g = await startLwm2m({ lifetime_min: '1s', qmode_time_window: '300ms', command_ttl: '1h' }, { bridge: { upstreams: [upstream] } });
});

after(async () => {
  if (skip) return;
  await g.stop();
  await cloud.stop();
  work.remove();
});

test('MQTT 5 message expiry from the cloud: expired while the device sleeps -> dropped and reported; a long-lived one goes at the next Update', { skip }, async () => {
  const w = await g.watch('lwm2m/#');
  const d = await g.device({ ep: 'dev-mx', binding: 'UQ' });
  await d.register();
  await w.next(RESP, (j) => j.msgType === 'register');
  await until(() => g.metric('devices_asleep') === 1, 'the queue-mode device is asleep (outside qmode_time_window)');
  await until(() => g.gw.metrics.snapshot()['bridge/upstreams/cloud/downlink_subscribed'] === 1, 'downlink SUBACK');
  const app = await connect(cloud.url, { protocolVersion: 5 });
  try {
    const topic = 'fieldgate/fieldgate/down/lwm2m/dev-mx/dn/dm';
    await app.publishAsync(topic, JSON.stringify({ reqID: 1, msgType: 'read', data: { path: '/3/0/0' } }), { qos: 1, properties: { messageExpiryInterval: 1 } });
    await app.publishAsync(topic, JSON.stringify({ reqID: 2, msgType: 'read', data: { path: '/3/0/1' } }), { qos: 1, properties: { messageExpiryInterval: 3600 } });
    const sent = d.received.length;
    // command_ttl is 1 h and there is no mheaders.ttl: only the 1 s expiry can drop it.
    const expired = await w.next(RESP, (j) => j.msgType === 'command_expired');
    assert.deepEqual(expired, { reqID: 1, msgType: 'command_expired', data: { path: '/3/0/0' } });
    assert.equal(g.metric('commands_expired'), 1);
    assert.equal(d.received.length, sent, 'nothing was sent to the sleeping device');
    assert.equal(await d.update(), '2.04');
    const read = await w.next(RESP, (j) => j.msgType === 'read');
    assert.equal(read.reqID, 2);
    assert.deepEqual(read.data, { reqPath: '/3/0/1', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/1', value: 'lwm2m-sim-1' }] });
    assert.deepEqual(d.received.slice(sent).map((r) => r.path), ['/3/0/1'], 'the expired command never went');
  } finally {
    await endClient(app);
  }
});
