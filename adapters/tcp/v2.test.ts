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
  // Held and refused by payload, for tests that need two publishes to finish in a given order.
  const holds = new Map<string, Promise<void>>();
  const refusing = new Set<string>();
  // Publishes that reached a shut gate: the positive signal that one is being accepted.
  let held = 0;
  // Set to refuse the next publish as a full bridge log would (PublishRejected queue_full).
  let refuseNext = false;

  before(async () => {
    g = await startTcpGateway(
      { v2: { retry_interval: '200ms', session_expiry: '5s', max_queued_downlinks: 3 } },
      { auth: { acl: [{ permission: 'deny', action: 'publish', clientid: 'v2-denied', topics: ['tcp/v2-denied/up'] }] } },
    );
    g.gw.ingress.addHook('test-gate', async (msg) => {
      const hold = holds.get(msg.payload.toString());
      if (gate || hold) {
        held++;
        await gate;
        await hold;
      }
      if (refuseNext || refusing.delete(msg.payload.toString())) {
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
    const heldBefore = held;
    let acked = false;
    const ack = dev.publish('reading-1').then((code) => {
      acked = true;
      return code;
    });
    await until(() => held > heldBefore, 'the publish waiting to be accepted');
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

  test('a rebooted device reuses an id: ACK 3, then its DUP is published, not answered from the old message', async () => {
    const connectRaw = async () => {
      const d = await RawDevice.open(g.tcpPort);
      d.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-reboot' }));
      await d.read(24);
      return d;
    };
    // Before the reboot, message A got id 5 and was accepted: the window remembers 5 -> accepted.
    const old = await connectRaw();
    old.write(encodeData(Buffer.from('A'), { id: 5 }));
    assert.deepEqual(await old.read(5), hex('70 00 02 00 05'));
    old.destroy();
    // After the reboot the counter starts again: id 5 is new message B, which the gateway cannot take now.
    const raw = await connectRaw();
    refuseNext = true;
    raw.write(encodeData(Buffer.from('B'), { id: 5 }));
    assert.deepEqual(await raw.read(5), hex('73 00 02 00 05'));
    raw.write(encodeData(Buffer.from('B'), { id: 5, dup: true }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 05'));
    // B's publish precedes its ACK; C, sent after that ACK, marks the end of what can arrive before it.
    raw.write(encodeData(Buffer.from('C'), { id: 6 }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 06'));
    await until(() => upFrom('v2-reboot').some((m) => m.payload === 'C'), 'the marker C');
    assert.deepEqual(upFrom('v2-reboot').map((m) => m.payload), ['A', 'B', 'C']);
    raw.write('60');
    await raw.closedWithin();
  });

  test('a DUP of a reused id while the new message is being accepted gets the new outcome, not the old one', async () => {
    const connectRaw = async () => {
      const d = await RawDevice.open(g.tcpPort);
      d.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-reuse' }));
      await d.read(24);
      return d;
    };
    const first = await connectRaw();
    first.write(encodeData(Buffer.from('old'), { id: 7 }));
    assert.deepEqual(await first.read(5), hex('70 00 02 00 07'));
    // The device reboots and sends new message id 7; the link drops while the gateway is accepting it.
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const heldBefore = held;
    first.write(encodeData(Buffer.from('new'), { id: 7 }));
    await until(() => held > heldBefore, 'the new message waiting to be accepted');
    first.destroy();
    const dupsBefore = g.metric('messages/duplicate');
    const raw = await connectRaw();
    raw.write(encodeData(Buffer.from('new'), { id: 7, dup: true }));
    await until(() => g.metric('messages/duplicate') > dupsBefore, 'the DUP seen as a copy');
    // The new message fails (the log is full): its DUP must hear 3 (retry), not the old message's 0.
    refuseNext = true;
    release();
    gate = undefined;
    assert.deepEqual(await raw.read(5), hex('73 00 02 00 07'));
    raw.write(encodeData(Buffer.from('new'), { id: 7, dup: true }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 07'));
    await until(() => upFrom('v2-reuse').length === 2, 'the new message published');
    assert.deepEqual(upFrom('v2-reuse').map((m) => m.payload), ['old', 'new']);
    raw.write('60');
    await raw.closedWithin();
  });

  test('the old message finishing after its id was reused does not answer for the new one', async () => {
    const connectRaw = async () => {
      const d = await RawDevice.open(g.tcpPort);
      d.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-twice' }));
      await d.read(24);
      return d;
    };
    // B (id 9) is still being accepted when the link drops and the rebooted device sends C as id 9.
    let releaseB!: () => void;
    holds.set('B', new Promise((r) => (releaseB = r)));
    const heldBefore = held;
    const first = await connectRaw();
    first.write(encodeData(Buffer.from('B'), { id: 9 }));
    await until(() => held > heldBefore, 'B waiting to be accepted');
    first.destroy();
    const raw = await connectRaw();
    refusing.add('C');
    raw.write(encodeData(Buffer.from('C'), { id: 9 }));
    assert.deepEqual(await raw.read(5), hex('73 00 02 00 09'));
    // Now B is accepted: its outcome belongs to B's sender, not to id 9 in the window.
    const receivedBefore = g.metric('messages/received');
    releaseB();
    holds.delete('B');
    await until(() => g.metric('messages/received') > receivedBefore, 'B accepted');
    raw.write(encodeData(Buffer.from('C'), { id: 9, dup: true }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 09'));
    raw.write(encodeData(Buffer.from('D'), { id: 10 }));
    assert.deepEqual(await raw.read(5), hex('70 00 02 00 0a'));
    await until(() => upFrom('v2-twice').some((m) => m.payload === 'D'), 'the marker D');
    assert.deepEqual(upFrom('v2-twice').map((m) => m.payload), ['B', 'C', 'D']);
    raw.write('60');
    await raw.closedWithin();
  });

  test('retransmit after a dropped connection: ACK lost after acceptance -> re-acked, published once', async () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const raw = await RawDevice.open(g.tcpPort);
    raw.write(encodeConnect({ version: 2, keepalive: 60, clientid: 'v2-lost' }));
    await raw.read(24);
    const heldBefore = held;
    raw.write(encodeData(Buffer.from('once'), { id: 42 }));
    await until(() => held > heldBefore, 'the publish waiting to be accepted');
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
    assert.equal(upFrom('v2-lost')[2]!.payload, 'after reboot');
    assert.equal(g.metric('messages/duplicate'), dupsBefore + 1);
    again.write('60');
    await again.closedWithin();
  });

  test('retransmit while the first copy is still being accepted: shares its outcome, published once', async () => {
    let release!: () => void;
    gate = new Promise((r) => (release = r));
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-race', version: 2 });
    await dev.connect();
    const heldBefore = held;
    const ack = dev.publish('racing');
    await until(() => held > heldBefore, 'the publish waiting to be accepted');
    dev.destroy();
    await new Promise((r) => dev.once('close', r));
    const dupsBefore = g.metric('messages/duplicate');
    await dev.connect(); // resends the unacked id with DUP, while the first publish is held
    await until(() => g.metric('messages/duplicate') > dupsBefore, 'the DUP waiting for the first copy');
    release();
    gate = undefined;
    assert.equal(await ack, AckCode.ACCEPTED);
    // A second publish of 'racing' would precede the DUP's ACK, hence this marker sent after it.
    assert.equal(await dev.publish('marker'), AckCode.ACCEPTED);
    await until(() => upFrom('v2-race').some((m) => m.payload === 'marker'), 'the marker');
    assert.deepEqual(upFrom('v2-race').map((m) => m.payload), ['racing', 'marker']);
    await dev.disconnect();
  });

  test('QoS 1 downlink is retried (DUP) until the device ACKs', async () => {
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'v2-dn', version: 2, autoAck: false });
    await dev.connect();
    const seen: Downlink[] = [];
    dev.on('message', (m: Downlink) => seen.push(m));
    await mq.publishAsync('tcp/v2-dn/dn', 'cmd-1', { qos: 1 });
    await until(() => seen.length >= 2, 'first send and one retry');
    assert.equal(seen[0]!.qos, 1);
    assert.equal(seen[0]!.dup, false);
    assert.equal(seen[1]!.dup, true);
    assert.equal(seen[1]!.id, seen[0]!.id);
    dev.ack(seen[0]!.id as number);
    const n = seen.length;
    // Positive control: an unacked cmd-2 shares the retry timer. Two of its retries later, cmd-1 has
    // had two chances to be resent; one copy may have crossed our ACK on the wire, no more.
    await mq.publishAsync('tcp/v2-dn/dn', 'cmd-2', { qos: 1 });
    const retriesOf2 = () => seen.filter((m) => m.data.toString() === 'cmd-2' && m.dup).length;
    await until(() => retriesOf2() >= 2, 'two retries of cmd-2');
    assert.ok(seen.slice(n).filter((m) => m.data.toString() === 'cmd-1').length <= 1, 'retries continued after the ACK');
    dev.ack(seen.find((m) => m.data.toString() === 'cmd-2')?.id as number);
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
    // A queued 'stale' would be delivered on connect, before anything published after it.
    await mq.publishAsync('tcp/v2-sleepy/dn', 'marker', { qos: 1 });
    await until(() => late.includes('marker'), 'the marker downlink');
    assert.deepEqual(late, ['marker']);
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
