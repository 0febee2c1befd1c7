import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mount, parsePath, parseQuery, percentDecode, resolveExpiry, resolveQos, resolveRetain } from './uri.ts';
import { rng } from '../../gateway/test/random.ts';


test('routes: ps, connection, legacy (only when enabled), well-known, unknown', () => {
  assert.deepEqual(parsePath(['ps', 'coap', 'test'], { legacy: false }), { kind: 'ps', topic: 'coap/test' });
  assert.deepEqual(parsePath(['ps'], { legacy: false }), { kind: 'ps', topic: '' });
  assert.deepEqual(parsePath(['ps', 'a', '', 'b'], { legacy: false }), { kind: 'ps', topic: 'a//b' });
  assert.deepEqual(parsePath(['ps', 'sensors', '%2B', '%23'], { legacy: false }), { kind: 'ps', topic: 'sensors/+/#' });
  assert.deepEqual(parsePath(['ps', 'x', '+'], { legacy: false }), { kind: 'ps', topic: 'x/+' });
  assert.deepEqual(parsePath(['mqtt', 'connection'], { legacy: false }), { kind: 'connection' });
  assert.deepEqual(parsePath(['mqtt', 'connection'], { legacy: true }), { kind: 'connection' });
  assert.deepEqual(parsePath(['mqtt', 'a', 'b'], { legacy: true }), { kind: 'legacy', topic: 'a/b' });
  assert.equal(parsePath(['mqtt', 'a', 'b'], { legacy: false }).kind, 'unknown');
  assert.deepEqual(parsePath(['.well-known', 'core'], { legacy: false }), { kind: 'wellknown' });
  assert.deepEqual(parsePath([], { legacy: false }), { kind: 'unknown', path: '/' });
  assert.deepEqual(parsePath(['PS', 'x'], { legacy: false }), { kind: 'unknown', path: '/PS/x' });
});

test('query: long and short names, last one wins, unknown ignored, values percent-decoded', () => {
  assert.deepEqual(parseQuery(['c=dev1', 'u=alice', 'p=s%3Dcret', 't=123', 'q=1', 'r=true', 'expiry=60', 'nl=1']), {
    clientid: 'dev1', username: 'alice', password: 's=cret', token: '123', qos: '1', retain: 'true', expiry: '60',
  });
  assert.deepEqual(parseQuery(['clientid=a', 'c=b']), { clientid: 'b' });
  assert.deepEqual(parseQuery(['clientid']), { clientid: '' });
  assert.deepEqual(parseQuery(['=x', '', '==', 'c==x']), { clientid: '=x' });
});

test('qos, retain, expiry, mountpoint', () => {
  assert.equal(resolveQos(undefined, 'coap', true), 1);
  assert.equal(resolveQos(undefined, 'coap', false), 0);
  assert.equal(resolveQos(undefined, 'qos0', true), 0);
  assert.equal(resolveQos(undefined, 'qos1', false), 1);
  assert.equal(resolveQos(undefined, 'qos2', false), 1);
  assert.equal(resolveQos('0', 'coap', true), 0);
  assert.equal(resolveQos('2', 'coap', false), 1);
  assert.equal(resolveQos('', 'coap', false), 0);
  assert.match((resolveQos('3', 'coap', false) as { error: string }).error, /0, 1 or 2/);
  assert.match((resolveQos('1x', 'coap', false) as { error: string }).error, /0, 1 or 2/);
  assert.equal(resolveRetain('true'), true);
  assert.equal(resolveRetain('1'), false);
  assert.equal(resolveRetain(undefined), false);
  assert.equal(resolveExpiry('60'), 60);
  assert.equal(resolveExpiry(undefined), undefined);
  assert.match((resolveExpiry('-1') as { error: string }).error, /whole seconds/);
  assert.equal(mount('coap/', 'a/b'), 'coap/a/b');
  assert.equal(percentDecode('%E0%A4%A'), '%E0%A4%A', 'invalid encoding stays as sent');
  assert.equal(percentDecode('%'), '%');
  assert.equal(percentDecode('caf%C3%A9'), 'café');
});

test('seeded fuzz: parsers never throw on arbitrary segments and query strings', () => {
  const seed = Number(process.env.FUZZ_SEED ?? 0x0571);
  const r = rng(seed);
  const alphabet = ['ps', 'mqtt', 'connection', '.well-known', 'core', '%', '%2', '%2B', '%23', '%ZZ', '+', '#', '=', '&', '/', '\u0000', 'é', '\ud800', 'c', 'u', 'p', 't', 'q', 'r', 'x'];
  const pick = () => alphabet[Math.floor(r() * alphabet.length)];
  const word = () => Array.from({ length: Math.floor(r() * 4) }, pick).join('');
  for (let i = 0; i < 20_000; i++) {
    const segs = Array.from({ length: Math.floor(r() * 5) }, word);
    const route = parsePath(segs, { legacy: r() < 0.5 });
    assert.ok(['ps', 'connection', 'legacy', 'wellknown', 'unknown'].includes(route.kind), `seed ${seed} case ${i}`);
    const q = parseQuery(Array.from({ length: Math.floor(r() * 5) }, word));
    for (const v of Object.values(q)) assert.equal(typeof v, 'string');
    const qos = resolveQos(q.qos, 'coap', r() < 0.5);
    assert.ok(qos === 0 || qos === 1 || typeof qos.error === 'string');
    resolveExpiry(q.expiry);
  }
});
