// auto_observe planning, topic placeholders and registration parsing: pure functions.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtinModel } from './objects/index.ts';
import { autoObservePaths } from './observe-plan.ts';
import { eventData, isQueueMode, merge, objectLinks, parseRegister, parseUpdate } from './registration.ts';
import { invalidEndpoint, mountpoint } from './topics.ts';

const model = builtinModel();

test('auto_observe: true skips management objects and undefined ones; a list keeps registered, defined paths', () => {
  const links = ['/1/0', '/3/0', '/5/0', '/3303/0', '/3303/1', '/31024/0'];
  assert.deepEqual(autoObservePaths(true, links, model), ['/3/0', '/3303/0', '/3303/1']);
  assert.deepEqual(autoObservePaths(['/3303/0/5700', '/3303/2/5700', '/3304/0', '/3/0/9'], links, model), ['/3303/0/5700', '/3/0/9']);
  assert.deepEqual(autoObservePaths(['/3303/1/5700'], ['/3303'], model), ['/3303/1/5700'], 'an object-level link covers its instances');
  assert.deepEqual(autoObservePaths(false, links, model), []);
});

test('mountpoint placeholders (EMQX 5 and 4.x) and endpoint names that cannot be topics', () => {
  const dev = { ep: 'urn:imei:1', clientid: 'c1', username: 'u1', peer: { address: '10.0.0.7', port: 5000 } };
  assert.equal(mountpoint('lwm2m/${endpoint_name}/', dev), 'lwm2m/urn:imei:1/');
  assert.equal(mountpoint('${clientid}/${username}/${peerhost}/${zone}/', dev), 'c1/u1/10.0.0.7//');
  assert.equal(mountpoint('lwm2m/%e/%a/', dev), 'lwm2m/urn:imei:1/10.0.0.7/');
  assert.equal(invalidEndpoint('a+b') !== undefined && invalidEndpoint('a#') !== undefined, true);
  assert.equal(invalidEndpoint('urn:oma:lwm2m:oma:3'), undefined);
});

test('register/update parsing: required ep and lt, versions, alternate path, merge, queue mode, secrets', () => {
  assert.deepEqual(parseRegister(['lt=60'], Buffer.alloc(0)), { ok: false, message: 'Login Failed: invalid queries' });
  assert.deepEqual(parseRegister(['ep=a', 'lt=x'], Buffer.alloc(0)), { ok: false, message: 'Login Failed: invalid queries' });
  const r = parseRegister(['ep=a', 'lt=345', 'lwm2m=1', 'b=UQ', 'password=p', 'imei=9'], Buffer.from('</lwm2m>;rt="oma.lwm2m", </lwm2m/1/0>,</lwm2m/3/0>'));
  assert.ok(r.ok);
  assert.deepEqual(objectLinks(Buffer.from('</1>, </2>, </3>, </4>, </5>')), { objectList: ['/1', '/2', '/3', '/4', '/5'], alternatePath: '/' });
  assert.deepEqual(eventData(r.info, true), { ep: 'a', lt: 345, lwm2m: '1', b: 'UQ', imei: '9', alternatePath: '/lwm2m', objectList: ['/1/0', '/3/0'] });
  assert.equal(isQueueMode(r.info), true);
  const u = parseUpdate(['lt=100', 'b=U'], Buffer.alloc(0));
  assert.ok(u.ok);
  const m = merge(r.info, u.info);
  assert.equal(m.lt, 100);
  assert.deepEqual(m.objectList, ['/1/0', '/3/0'], 'an Update without links keeps the old ones');
  assert.equal(isQueueMode(m), false);
  assert.equal(isQueueMode({ params: { b: 'U', Q: '' } }), true, 'LwM2M 1.1 Q parameter');
  assert.deepEqual(parseUpdate(['lt=-1'], Buffer.alloc(0)), { ok: false, message: 'invalid lt' });
});
