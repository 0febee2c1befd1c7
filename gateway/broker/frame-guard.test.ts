import assert from 'node:assert/strict';
import { test } from 'node:test';
import mqttPacket from 'mqtt-packet';
import { FrameTracker } from './frame-guard.ts';

const publish = (size: number) => mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(size), qos: 0, retain: false, dup: false });

test('frames under the limit pass, split and coalesced', () => {
  const stream = Buffer.concat([publish(10), publish(200), publish(0), publish(300)]);
  for (let cut = 1; cut < stream.length; cut += 7) {
    const t = new FrameTracker(400);
    assert.equal(t.feed(stream.subarray(0, cut)), 0);
    assert.equal(t.feed(stream.subarray(cut)), 0);
  }
});

test('an oversize frame is reported from its header alone', () => {
  const big = publish(1000);
  const t = new FrameTracker(500);
  assert.equal(t.feed(big.subarray(0, 3)), big.length);
});

test('a five-byte remaining length is malformed', () => {
  assert.equal(new FrameTracker(1e9).feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])), -1);
});

test('seeded fuzz: never throws, and agrees with mqtt-packet on frame sizes', () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 2000; i++) {
    const sizes = Array.from({ length: 1 + Math.floor(rnd() * 5) }, () => Math.floor(rnd() * 3000));
    const frames = sizes.map(publish);
    const max = 1 + Math.floor(rnd() * 3500);
    const firstBad = frames.find((f) => f.length > max);
    const t = new FrameTracker(max);
    const all = Buffer.concat(frames);
    let reported = 0;
    for (let off = 0; off < all.length && reported === 0; ) {
      const n = 1 + Math.floor(rnd() * 700);
      reported = t.feed(all.subarray(off, off + n));
      off += n;
    }
    assert.equal(reported, firstBad ? firstBad.length : 0);
  }
  const t = new FrameTracker(100);
  for (let i = 0; i < 2000; i++) t.feed(Buffer.from(Array.from({ length: 20 }, () => Math.floor(rnd() * 256))));
});
