// The simulator's frames against the hex examples of docs/tcp-protocol.md (sections 3, 4 and 8).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatewayReader, V1, V2, ackFrame, connectFrame, dataFrame } from './frames.ts';

const hex = (h: string) => Buffer.from(h.replace(/ /g, ''), 'hex');

test('device frames are the documented bytes', () => {
  assert.deepEqual(connectFrame({ version: V1, keepalive: 60, clientid: 'abcd' }), hex('11 00 07 3c 00 04 61 62 63 64'));
  assert.deepEqual(connectFrame({ version: V1, keepalive: 60, clientid: 'abcd', username: 'abcd', password: 'abcd' }), hex('11 00 13 3c 00 04 61 62 63 64 00 04 61 62 63 64 00 04 61 62 63 64'));
  assert.deepEqual(connectFrame({ version: V2, keepalive: 60, resume: true, clientid: 'abcd' }), hex('12 00 08 3c 01 00 04 61 62 63 64'));
  assert.deepEqual(dataFrame(Buffer.from('abcd')), hex('30 00 04 61 62 63 64'));
  assert.deepEqual(dataFrame(Buffer.from('abcd'), { id: 1 }), hex('34 00 06 00 01 61 62 63 64'));
  assert.deepEqual(dataFrame(Buffer.from('abcd'), { id: 1, dup: true }), hex('36 00 06 00 01 61 62 63 64'));
  assert.deepEqual(ackFrame(7), hex('70 00 02 00 07'));
  // A password needs a username before it, possibly empty.
  assert.deepEqual(connectFrame({ version: V1, keepalive: 0, clientid: 'a', password: 'p' }), hex('11 00 09 00 00 01 61 00 00 00 01 70'));
});

test('gateway frames are read from split and coalesced chunks', () => {
  const r = new GatewayReader(V2);
  const stream = Buffer.concat([hex('20 00 15 01'), Buffer.from('Connect Successfully'), hex('50 34 00 06 00 07 6f 70 65 6e 70 00 02 00 01 73 00 02 00 05')]);
  const frames = [];
  for (let i = 0; i < stream.length; i += 3) frames.push(...r.push(stream.subarray(i, i + 3)));
  assert.deepEqual(frames, [
    { type: 'connack', code: 0, sessionPresent: true, message: 'Connect Successfully' },
    { type: 'pong' },
    { type: 'data', qos: 1, id: 7, dup: false, data: Buffer.from('open') },
    { type: 'ack', id: 1, code: 0 },
    { type: 'ack', id: 5, code: 3 },
  ]);
});

test('CONNACK shapes: v1 has no flags byte, the empty v1 refusal, v2 refusals, code 2 always v1-shaped', () => {
  assert.deepEqual(new GatewayReader(V1).push(hex('20 00 14 43 6f 6e 6e 65 63 74 20 53 75 63 63 65 73 73 66 75 6c 6c 79')), [{ type: 'connack', code: 0, sessionPresent: false, message: 'Connect Successfully' }]);
  assert.deepEqual(new GatewayReader(V1).push(hex('21 00 00')), [{ type: 'connack', code: 1, sessionPresent: false, message: '' }]);
  assert.deepEqual(new GatewayReader(V2).push(Buffer.concat([hex('21 00 17 00'), Buffer.from('Authentication Failure')])), [{ type: 'connack', code: 1, sessionPresent: false, message: 'Authentication Failure' }]);
  assert.deepEqual(new GatewayReader(V2).push(Buffer.concat([hex('22 00 1c'), Buffer.from('Unsupported Protocol Version')])), [{ type: 'connack', code: 2, sessionPresent: false, message: 'Unsupported Protocol Version' }]);
});

test('bytes the document does not allow from a gateway are errors', () => {
  assert.throws(() => new GatewayReader(V2).push(hex('40')), /never sends/);
  assert.throws(() => new GatewayReader(V2).push(hex('38 00 02 00 01')), /flags/);
  assert.throws(() => new GatewayReader(V2).push(hex('70 00 01 00')), /ACK of 1 bytes/);
  assert.throws(() => new GatewayReader(V2).push(hex('20 00 00')), /flags byte/);
});
