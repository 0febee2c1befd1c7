import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { PublishRejected } from '../../gateway/core/message.ts';
import { connect, endClient, until } from '../../gateway/test/helpers.ts';
import { TcpDevice, type Downlink } from '../../firmware-sim/tcp/client.ts';
import { AckCode, encodeConnect, encodeData } from './codec.ts';
import { RawDevice, hex, startTcpGateway, type TcpTestGateway } from './test-kit.ts';

/** Messages on `filter` as seen by an MQTT subscriber (with QoS), kept for later assertions. */
async function watch(url: string, filter: string) {
  const client = await connect(url);
  const got: { topic: string; payload: string; qos: number }[] = [];
  client.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos }));
  await client.subscribeAsync(filter, { qos: 1 });
  return { client, got };
}

function nextMessage(dev: TcpDevice): Promise<Downlink> {
  return new Promise((r) => dev.once('message', r));
}

describe('tcp adapter v2 (acknowledged) over real TCP', () => {
  let g: TcpTestGateway;
  let up: Awaited<ReturnType<typeof watch>>;
  let mq: MqttClient;
  // An ingress hook the test can hold shut: it stands in for a slow durable log, so the test decides
  // exactly when a publish is accepted.
  let gate: Promise<void> | undefined;
  // Set to refuse the next publish as a full bridge log would (PublishRejected queue_full).
  let refuseNext = false;

  before(async () => {
    g = await startTcpGateway(
      { v2: { retry_interval: '200ms', session_expiry: '5s', max_queued_downlinks: 3 } },
      { auth: { acl: [{ permission: 'deny', action: 'publish', clientid: 'v2-denied', topics: ['tcp/v2-denied/up'] }] } },
    );
    g.gw.ingress.addHook('test-gate', async () => {
      if (gate) await gate;
      if (refuseNext) {
        refuseNext = false;
        throw new PublishRejected('queue_full', 'test: the log is full');
      }
    });
    up = await watch(g.url, 'tcp/+/up');
    mq = await connect(g.url);
  });
  after(async () => {
    await endClient(up.client);
    await endClient(mq);
    await g.stop();
  });

  const upFrom = (id: string) => up.got.filter((m) => m.topic === `tcp/${id}/up`);

  test('QoS 1 uplink: ACK 0 only once the gateway accepted it; published at QoS 1', async () => {
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-a', version: 2 });
    await dev.connect();
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    let acked = false;
    const ack = dev.publish('reading-1').then((code) => {
      acked = true;
      return code;
    });
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(acked, false, 'ACK arrived before the publish was accepted');
    release();
    gate = undefined;
    assert.equal(await ack, AckCode.ACCEPTED);
    await until(() => upFrom('v2-a').length === 1, 'uplink at the subscriber');
    assert.deepEqual(upFrom('v2-a'), [{ topic: 'tcp/v2-a/up', payload: 'reading-1', qos: 1 }]);
    // QoS 0 in v2 is the v1 frame.
    dev.send('fire-and-forget');
    await until(() => upFrom('v2-a').length === 2, 'QoS 0 uplink');
    await dev.disconnect();
  });

  test('a denied uplink is ACKed with code 1 (do not retry) and counted', async () => {
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-denied', version: 2 });
    await dev.connect();
    assert.equal(await dev.publish('x'), AckCode.NOT_AUTHORIZED);
    assert.ok(g.metric('messages/dropped/not_authorized') >= 1);
    await dev.disconnect();
  });

  test('a publish the gateway cannot take now gets ACK 3, and the same id is published when resent', async () => {
    refuseNext = true;
    const raw = await RawDevice.open(g.tcpPort);
    raw.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-full' }));
    await raw.read(24);
    raw.write(encodeData(Buffer.from('later'), { id: 9 }));
    assert.deepEqual(await raw.read(5), hex('73 00 02 00 09'));
    raw.write(encodeData(Buffer.from('later'), { id: 9, dup: true }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 09'));
    await until(() => upFrom('v2-full').length === 1, 'the retry published');
    assert.ok(g.metric('messages/dropped/queue_full') >= 1);
    raw.write('60');
    await raw.closedWithin();
  });

  test('retransmit after a dropped connection: ACK lost after acceptance -> re-acked, published once', async () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const raw = await RawDevice.open(g.tcpPort);
    raw.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-lost' }));
    await raw.read(24);
    raw.write(encodeData(Buffer.from('once'), { id: 42 }));
    await new Promise((r) => setTimeout(r, 50));
    // The link drops while the gateway is still making the message durable; then it completes.
    const dropsBefore = g.metric('closed/tcp_closed');
    raw.destroy();
    await new Promise((r) => setTimeout(r, 50));
    release();
    gate = undefined;
    await until(() => upFrom('v2-lost').length === 1, 'accepted message published');
    // The connection ends once the frames it delivered before the drop are handled.
    await until(() => g.metric('closed/tcp_closed') > dropsBefore, 'gateway saw the drop');
    const dupsBefore = g.metric('messages/duplicate');
    // The device never saw the ACK, so it sends id 42 again, marked DUP.
    const again = await RawDevice.open(g.tcpPort);
    again.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-lost' }));
    await again.read(24);
    again.write(encodeData(Buffer.from('once'), { id: 42, dup: true }));
    assert.deepEqual(await again.read(5), hex('70 00 02 00 2a'));
    again.write(encodeData(Buffer.from('next'), { id: 43 }));
    assert.deepEqual(await again.read(5), hex('70 00 02 00 2b'));
    await until(() => upFrom('v2-lost').length === 2, 'the next message');
    assert.deepEqual(upFrom('v2-lost').map((m) => m.payload), ['once', 'next']);
    assert.equal(g.metric('messages/duplicate'), dupsBefore + 1);
    // Without DUP, a remembered id is a new message (a rebooted device restarting its counter).
    again.write(encodeData(Buffer.from('after reboot'), { id: 42 }));
    assert.deepEqual(await again.read(5), hex('70 00 02 00 2a'));
    await until(() => upFrom('v2-lost').length === 3, 'the reused id published');
    assert.equal(upFrom('v2-lost')[2].payload, 'after reboot');
    assert.equal(g.metric('messages/duplicate'), dupsBefore + 1);
    again.write('60');
    await again.closedWithin();
  });

  test('retransmit while the first copy is still being accepted: shares its outcome, published once', async () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-race', version: 2 });
    await dev.connect();
    const ack = dev.publish('racing');
    await new Promise((r) => setTimeout(r, 50));
    dev.destroy();
    await new Promise((r) => dev.once('close', r));
    await dev.connect(); // resends the unacked id with DUP, while the first publish is held
    await new Promise((r) => setTimeout(r, 50));
    release();
    gate = undefined;
    assert.equal(await ack, AckCode.ACCEPTED);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(upFrom('v2-race').map((m) => m.payload), ['racing']);
    await dev.disconnect();
  });

  test('QoS 1 downlink is retried (DUP) until the device ACKs', async () => {
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-dn', version: 2, autoAck: false });
    await dev.connect();
    const seen: Downlink[] = [];
    dev.on('message', (m: Downlink) => seen.push(m));
    await mq.publishAsync('tcp/v2-dn/dn', 'cmd-1', { qos: 1 });
    await until(() => seen.length >= 2, 'first send and one retry');
    assert.equal(seen[0].qos, 1);
    assert.equal(seen[0].dup, false);
    assert.equal(seen[1].dup, true);
    assert.equal(seen[1].id, seen[0].id);
    dev.ack(seen[0].id as number);
    const n = seen.length;
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(seen.length <= n + 1, 'retries continued after the ACK');
    // QoS 0 downlinks are plain v1 DATATRANS.
    const m = nextMessage(dev);
    await mq.publishAsync('tcp/v2-dn/dn', 'hello', { qos: 0 });
    assert.deepEqual(await m, { data: Buffer.from('hello'), qos: 0, id: undefined, dup: false });
    await dev.disconnect();
  });

  test('session resume: downlinks queued while away are delivered; a clean connect forgets them', async () => {
    const opts = { port: g.tcpPort, clientid: 'v2-sleepy', version: 2 as const, resume: true };
    const dev = new TcpDevice(opts);
    await dev.connect();
    assert.equal(dev.sessionPresent, false);
    await dev.disconnect();
    for (const p of ['q1', 'q2', 'q3', 'q4']) await mq.publishAsync('tcp/v2-sleepy/dn', p, { qos: 1 });
    const back = new TcpDevice(opts);
    const got: string[] = [];
    back.on('message', (m: Downlink) => got.push(m.data.toString()));
    await back.connect();
    assert.equal(back.sessionPresent, true);
    // max_queued_downlinks is 3: the oldest was dropped and counted.
    await until(() => got.length === 3, 'queued downlinks');
    assert.deepEqual(got, ['q2', 'q3', 'q4']);
    assert.ok(g.metric('messages/dropped/queue_full') >= 1);
    await back.disconnect();
    await mq.publishAsync('tcp/v2-sleepy/dn', 'stale', { qos: 1 });
    const clean = new TcpDevice({ ...opts, resume: false });
    const late: string[] = [];
    clean.on('message', (m: Downlink) => late.push(m.data.toString()));
    await clean.connect();
    assert.equal(clean.sessionPresent, false);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(late, []);
    await clean.disconnect();
  });

  test('a resuming connection takes the client id over (takenover)', async () => {
    const opts = { port: g.tcpPort, clientid: 'v2-twin', version: 2 as const, resume: true };
    const first = new TcpDevice(opts);
    await first.connect();
    const firstClosed = new Promise((r) => first.once('close', r));
    const second = new TcpDevice(opts);
    await second.connect();
    await firstClosed;
    assert.equal(second.sessionPresent, true);
    assert.equal(g.metric('closed/takenover'), 1);
    await second.disconnect();
  });

  test('unacked downlinks are resent with DUP after a resume', async () => {
    const opts = { port: g.tcpPort, clientid: 'v2-inflight', version: 2 as const, resume: true, autoAck: false };
    const dev = new TcpDevice(opts);
    await dev.connect();
    const first = nextMessage(dev);
    await mq.publishAsync('tcp/v2-inflight/dn', 'must-arrive', { qos: 1 });
    const m1 = await first;
    dev.destroy();
    await new Promise((r) => dev.once('close', r));
    const back = new TcpDevice({ ...opts, autoAck: true });
    const again = nextMessage(back);
    await back.connect();
    const m2 = await again;
    assert.equal(m2.id, m1.id);
    assert.equal(m2.dup, true);
    assert.equal(m2.data.toString(), 'must-arrive');
    await back.disconnect();
  });

  test('v1 devices never see v2 frames: QoS 1 downlinks reach them as plain DATATRANS', async () => {
    const raw = await RawDevice.open(g.tcpPort);
    raw.write(encodeConnect({ keepalive: 60, clientid: 'old-fw' }));
    await raw.read(23);
    await mq.publishAsync('tcp/old-fw/dn', 'ab', { qos: 1 });
    assert.deepEqual(await raw.read(5), hex('30 00 02 61 62'));
    // And an ACK frame from a v1 device is garbage.
    raw.write('70 00 02 00 01');
    await raw.closedWithin();
  });
});
