import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import { after, before, test } from 'node:test';
import { startGateway, until, type TestGateway } from '../test/helpers.ts';
import { wrapWrites } from './write-path.ts';
import { CONNACK, PUBACK, PUBLISH, RawClient, SUBACK, connectPacket, parsePublish, publishPacket, subscribePacket, type RawPacket } from '../test/raw-mqtt.ts';

// The broker's write path (write-path.ts): a busy connection's frames of one event-loop turn are
// coalesced into one write. These check what that must not change: a lone message leaves without
// waiting for more traffic, order, and back-pressure (write() saying false, then 'drain').

/**
 * The broker's end of a connection, as a Duplex the test owns: it counts the writes the broker's
 * stream makes (one per writev syscall on a socket) and, with `stall`, holds them like a full
 * socket buffer does until release().
 */
class Wire extends Duplex {
  writes = 0;
  stall = false;
  readonly packets: RawPacket[] = [];
  private buf = Buffer.alloc(0);
  private held: (() => void)[] = [];

  override _read(): void {}

  override _writev(chunks: { chunk: unknown; encoding: BufferEncoding }[], cb: (err?: Error | null) => void): void {
    this.writes++;
    this.land(Buffer.concat(chunks.map((c) => (typeof c.chunk === 'string' ? Buffer.from(c.chunk, c.encoding) : (c.chunk as Buffer)))), cb);
  }

  override _write(chunk: Buffer | string, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.writes++;
    this.land(typeof chunk === 'string' ? Buffer.from(chunk, encoding) : chunk, cb);
  }

  release(): void {
    this.stall = false;
    for (const f of this.held.splice(0)) f();
  }

  private land(data: Buffer, cb: () => void): void {
    const done = () => {
      this.split(data);
      cb();
    };
    if (this.stall) this.held.push(done);
    else done();
  }

  /** MQTT fixed header + remaining length (section 2.2), enough to count what arrived. */
  private split(data: Buffer): void {
    this.buf = Buffer.concat([this.buf, data]);
    for (;;) {
      let len = 0;
      let mul = 1;
      let i = 1;
      for (; i < this.buf.length; i++) {
        len += (this.buf[i]! & 0x7f) * mul;
        mul *= 128;
        if (!(this.buf[i]! & 0x80)) break;
      }
      if (i >= this.buf.length || this.buf.length < i + 1 + len) return;
      this.packets.push({ type: this.buf[0]! >> 4, flags: this.buf[0]! & 15, body: Buffer.from(this.buf.subarray(i + 1, i + 1 + len)) });
      this.buf = this.buf.subarray(i + 1 + len);
    }
  }
}

let g: TestGateway;
before(async () => {
  g = await startGateway();
});
after(() => g.stop());

/** A subscriber on a Wire, subscribed to `filter` at `qos`. */
async function wireSubscriber(id: string, filter: string, qos: number): Promise<Wire> {
  const wire = new Wire();
  g.gw.broker.handle(wire, { listener: 'tcp', ipaddress: '127.0.0.1' });
  wire.push(connectPacket({ clientId: id }));
  await until(() => wire.packets.some((p) => p.type === CONNACK), 'CONNACK');
  wire.push(subscribePacket(1, [[filter, qos]]));
  await until(() => wire.packets.some((p) => p.type === SUBACK), 'SUBACK');
  wire.packets.length = 0;
  wire.writes = 0;
  return wire;
}

const published = (w: Wire) => w.packets.filter((p) => p.type === PUBLISH).map((p) => parsePublish(p).payload.toString().split(' ')[0]);
const numbers = (n: number) => Array.from({ length: n }, (_, i) => String(i));

test('a single QoS 0 and a single QoS 1 message are delivered (and the PUBACK sent) with no further traffic', async () => {
  const { client: sub } = await RawClient.connect(g.port, { clientId: 'lone-sub' });
  assert.deepEqual(await sub.subscribe(1, [['lone/#', 1]]), [1]);
  const { client: pub } = await RawClient.connect(g.port, { clientId: 'lone-pub' });
  pub.send(publishPacket('lone/0', 'zero', 0));
  assert.equal(parsePublish(await sub.next(PUBLISH)).payload.toString(), 'zero');
  pub.send(publishPacket('lone/1', 'one', 1, 7));
  assert.deepEqual([...(await pub.next(PUBACK)).body], [0, 7]);
  const got = parsePublish(await sub.next(PUBLISH));
  assert.deepEqual([got.payload.toString(), got.qos], ['one', 1]);
  sub.end();
  pub.end();
});

test('a burst to one subscriber leaves in a few writes instead of one per message, in order, past the high-water mark', async () => {
  const wire = await wireSubscriber('burst-sub', 'burst/#', 0);
  const { client: pub } = await RawClient.connect(g.port, { clientId: 'burst-pub' });
  // 300 x ~230 bytes in one TCP write: ~70 KB, past the stream's 16 KB high-water mark in one turn,
  // so the corked stream's write() says false and aedes waits for its 'drain'.
  const pad = 'x'.repeat(200);
  pub.send(Buffer.concat(numbers(300).map((n) => publishPacket('burst/a', `${n} ${pad}`, 0))));
  await until(() => published(wire).length === 300, '300 messages at the subscriber');
  assert.deepEqual(published(wire), numbers(300));
  // One writev per message before coalescing; now one for the first frame of a turn and one for the rest.
  assert.ok(wire.writes <= 30, `${wire.writes} writes for 300 messages`);
  // The publisher's connection is read again after those 'drain's: the next message gets through.
  pub.send(publishPacket('burst/a', 'after', 0));
  await until(() => published(wire).includes('after'), 'the message after the burst');
  pub.end();
  wire.destroy();
});

test('a stalled subscriber: write() says false, nothing is lost or reordered once its writes complete, the publisher gets every PUBACK', async () => {
  const wire = await wireSubscriber('slow-sub', 'slow/#', 1);
  wire.stall = true;
  const { client: pub } = await RawClient.connect(g.port, { clientId: 'slow-pub' });
  const pad = 'y'.repeat(200);
  pub.send(Buffer.concat(numbers(300).map((n, i) => publishPacket('slow/a', `${n} ${pad}`, 1, i + 1))));
  await until(() => wire.writableNeedDrain, "the subscriber's stream to report back-pressure");
  assert.equal(published(wire).length, 0);
  wire.release();
  await until(() => published(wire).length === 300, '300 messages at the subscriber');
  assert.deepEqual(published(wire), numbers(300));
  for (let i = 0; i < 300; i++) await pub.next(PUBACK);
  pub.end();
  wire.destroy();
});

test('frames copied in a turn still leave when the stream is ended or destroyed (without an error) in that turn', () => {
  for (const close of ['end', 'destroy'] as const) {
    const wire = new Wire();
    wrapWrites(wire);
    // Three PUBACKs in one turn: the first is written at once, the others go to the slab.
    for (const id of [1, 2, 3]) wire.write(Buffer.from([PUBACK << 4, 2, 0, id]));
    assert.equal(wire.packets.length, 1, `${close}: the first frame of the turn is written at once`);
    wire[close]();
    assert.deepEqual(
      wire.packets.map((p) => p.body[1]),
      [1, 2, 3],
      `${close}: every PUBACK written before the ${close}()`,
    );
  }
});

test('bytes pending when the stream is destroyed with an error are dropped, without another error', async () => {
  const wire = new Wire();
  wrapWrites(wire);
  const errors: Error[] = [];
  wire.on('error', (e) => errors.push(e));
  for (const id of [1, 2]) wire.write(Buffer.from([PUBACK << 4, 2, 0, id]));
  wire.destroy(new Error('connection reset'));
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(
    wire.packets.map((p) => p.body[1]),
    [1],
  );
  assert.deepEqual(
    errors.map((e) => e.message),
    ['connection reset'],
  );
});
