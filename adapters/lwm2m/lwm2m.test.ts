// The LwM2M adapter over real UDP on 127.0.0.1 against the simulated device (firmware-sim/lwm2m,
// written from the spec), with every command's JSON response checked field by field against
// EMQX's contract (shared/reference/emqx-gateway.md section 2).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { startLwm2m, type Lwm2mGateway, type Watcher } from './test-support.ts';

const RESP = (ep: string) => `lwm2m/${ep}/up/resp`;

describe('LwM2M: registration and commands', () => {
  let g: Lwm2mGateway;
  let w: Watcher;
  before(async () => {
    g = await startLwm2m({ lifetime_min: '1s' });
    w = await g.watch();
  });
  after(async () => {
    await g.stop();
  });

  test('register -> 2.01 + Location-Path, register event, registry; update 2.04 + event; de-register 2.02', async () => {
    const d = await g.device({ ep: 'dev-reg', lifetime: 120, query: { imei: '' } });
    d.opts.query = {};
    assert.equal(await d.register({ secret: 'x' }), '2.01');
    assert.equal(d.location?.[0], 'rd');
    assert.match(d.location?.[1] ?? '', /^[0-9a-f]{12}$/);
    const reg = await w.next(RESP('dev-reg'), (j) => j.msgType === 'register');
    assert.deepEqual(reg, { msgType: 'register', data: { ep: 'dev-reg', lt: 120, lwm2m: '1.1', b: 'U', alternatePath: '/', objectList: ['/1/0', '/3/0', '/3303/0', '/5/0'] } });
    assert.ok(g.gw.registry.get('lwm2m', 'dev-reg'), 'in the registry');
    assert.equal(await d.update(['lt=200']), '2.04');
    const upd = await w.next('lwm2m/dev-reg/up/update');
    assert.deepEqual(upd, { msgType: 'update', data: { ep: 'dev-reg', lt: 200, lwm2m: '1.1', b: 'U' } });
    assert.equal(await d.deregister(), '2.02');
    await until(() => g.metric('devices') === 0, 'device removed');
    assert.equal(await d.update(), '4.04', 'the registration is gone');
  });

  test('bad registrations: missing ep or lt, bad version, wildcard endpoint', async () => {
    const d = await g.device({ ep: 'x' });
    const code = async (q: string[]) => (await d.request('POST', ['rd'], q, Buffer.from('</3/0>'))).code;
    assert.equal(await code(['lt=60']), '4.00');
    assert.equal(await code(['ep=a']), '4.00');
    const bad = await d.request('POST', ['rd'], ['ep=a', 'lt=60', 'lwm2m=9.9'], Buffer.alloc(0));
    assert.deepEqual([bad.code, bad.payload.toString()], ['4.00', 'Login Failed: invalid lwm2m version']);
    assert.equal(await code(['ep=a/#', 'lt=60']), '4.00');
    const links = await d.request('POST', ['rd'], ['ep=a', 'lt=60'], Buffer.from('</3/0>;title="unterminated'));
    assert.deepEqual([links.code, links.payload.toString()], ['4.00', 'Login Failed: invalid object links: link-format: unterminated quoted string']);
    assert.equal((await d.request('GET', ['bs'], [], Buffer.alloc(0))).code, '4.04');
    // Datagrams that are not CoAP: counted, never answered with text, and the port keeps serving.
    const before = g.metric('malformed');
    for (const junk of [Buffer.from([0x40]), Buffer.from('hello, not coap'), Buffer.from([0x4f, 0x01, 0x00, 0x01])]) d.socket.send(junk, g.lwm2mPort, '127.0.0.1');
    await until(() => g.metric('malformed') >= before + 3, 'malformed datagrams counted');
    assert.equal(await d.register(), '2.01');
  });

  test('every command against the device, JSON responses field by field', async () => {
    const d = await g.device({ ep: 'dev-cmd' });
    await d.register();
    await w.next(RESP('dev-cmd'), (j) => j.msgType === 'register');
    const ask = async (body: Record<string, unknown>) => {
      w.command('dev-cmd', body);
      return w.next(RESP('dev-cmd'), (j) => j.reqID === body.reqID && j.msgType !== 'ack', `response to ${String(body.msgType)}`);
    };
    assert.deepEqual(await ask({ reqID: 1, msgType: 'read', data: { path: '/3/0/1' } }), { reqID: 1, msgType: 'read', data: { reqPath: '/3/0/1', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/1', value: 'lwm2m-sim-1' }] } });
    const inst = await ask({ reqID: 2, requestID: 'r2', cacheID: 7, imei: '123', msgType: 'read', data: { path: '/3/0' } });
    assert.deepEqual(Object.keys(inst).sort(), ['cacheID', 'data', 'imei', 'msgType', 'reqID', 'requestID']);
    const content = (inst.data as { content: { path: string; value: unknown }[] }).content;
    assert.deepEqual(content.find((c) => c.path === '/3/0/9'), { path: '/3/0/9', value: 87 });
    assert.deepEqual(content.filter((c) => c.path.startsWith('/3/0/6/')), [{ path: '/3/0/6/0', value: 1 }, { path: '/3/0/6/1', value: 5 }]);
    assert.deepEqual(content.find((c) => c.path === '/3/0/13'), { path: '/3/0/13', value: 1_700_000_000 });
    assert.deepEqual(await ask({ reqID: 3, msgType: 'read', data: { path: '/3303/0/5700' } }), { reqID: 3, msgType: 'read', data: { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 21.5 }] } });
    const disc = await ask({ reqID: 4, msgType: 'discover', data: { path: '/3303/0' } });
    assert.deepEqual(disc.data, { reqPath: '/3303/0', code: '2.05', codeMsg: 'content', content: ['</3303/0>', '</3303/0/5700>', '</3303/0/5701>', '</3303/0/5601>', '</3303/0/5602>', '</3303/0/5605>', '</3303/0/5750>'] });
    assert.deepEqual(await ask({ requestID: 307, cacheID: 307, reqID: 5, msgType: 'write', data: { path: '/3/0/13', type: 'Integer', value: '12345' } }), { requestID: 307, cacheID: 307, reqID: 5, msgType: 'write', data: { reqPath: '/3/0/13', code: '2.04', codeMsg: 'changed' } });
    assert.equal(d.received.at(-1)?.payload.toString('hex'), 'c20d3039', "EMQX's TLV for Integer 12345 at /3/0/13");
    assert.equal(d.objects.get(3)?.get(0)?.get(13)?.value, 12345);
    const batch = await ask({ reqID: 6, msgType: 'write', data: { basePath: '/3/0', content: [{ path: '14', type: 'String', value: '+02:00' }, { path: '15', type: 'String', value: 'UTC' }] } });
    assert.deepEqual(batch.data, { reqPath: '/3/0', code: '2.04', codeMsg: 'changed' });
    assert.equal(d.received.at(-1)?.method, 'POST');
    assert.deepEqual([d.objects.get(3)?.get(0)?.get(14)?.value, d.objects.get(3)?.get(0)?.get(15)?.value], ['+02:00', 'UTC']);
    const attr = await ask({ reqID: 7, msgType: 'write-attr', data: { path: '/3/0/9', pmin: '1', pmax: '5', lt: '5', st: null, ignored: '1' } });
    assert.deepEqual(attr.data, { reqPath: '/3/0/9', code: '2.04', codeMsg: 'changed' });
    assert.deepEqual(d.received.at(-1)?.query, ['pmin=1', 'pmax=5', 'lt=5']);
    const exec = await ask({ reqID: 8, msgType: 'execute', data: { path: '/3/0/4', args: 'undefined' } });
    assert.deepEqual(exec.data, { reqPath: '/3/0/4', code: '2.04', codeMsg: 'changed' });
    assert.deepEqual(d.executed.at(-1), { path: '/3/0/4', args: '' });
    const exec2 = await ask({ reqID: 9, msgType: 'execute', data: { path: '/5/0/2', args: "0='v2'" } });
    assert.equal((exec2.data as { code: string }).code, '2.04');
    assert.deepEqual(d.executed.at(-1), { path: '/5/0/2', args: "0='v2'" });
    const created = await ask({ reqID: 10, msgType: 'create', data: { basePath: '/3303', content: [{ path: '1/5700', type: 'Float', value: 19.5 }, { path: '1/5701', type: 'String', value: 'Cel' }] } });
    assert.deepEqual(created.data, { reqPath: '/3303', code: '2.01', codeMsg: 'created' });
    assert.equal(d.objects.get(3303)?.get(1)?.get(5700)?.value, 19.5);
    const del = await ask({ reqID: 11, msgType: 'delete', data: { path: '/3303/1' } });
    assert.deepEqual(del.data, { reqPath: '/3303/1', code: '2.02', codeMsg: 'deleted' });
    const missing = await ask({ reqID: 12, msgType: 'read', data: { path: '/3/0/99' } });
    assert.deepEqual(missing.data, { reqPath: '/3/0/99', code: '4.04', codeMsg: 'not_found' });
    const unknown = await ask({ reqID: 13, msgType: 'reboot-now', data: { path: '/3/0/4' } });
    assert.equal((unknown.data as { code: string }).code, '4.00');
    assert.equal((unknown.data as { codeMsg: string }).codeMsg, 'bad_request');
    assert.equal(unknown.msgType, 'reboot-now');
    const badHex = await ask({ reqID: 14, encoding: 'hex', msgType: 'write', data: { path: '/5/0/0', type: 'Opaque', value: 'xyz' } });
    assert.equal((badHex.data as { code: string }).code, '4.00');
  });

  test('observe -> response on up/resp, notify on up/notify with increasing seqNum; cancel-observe', async () => {
    const d = await g.device({ ep: 'dev-obs' });
    await d.register();
    await w.next(RESP('dev-obs'), (j) => j.msgType === 'register');
    w.command('dev-obs', { requestID: 307, cacheID: 307, msgType: 'observe', data: { path: '/3303/0/5700' } });
    const first = await w.next(RESP('dev-obs'), (j) => j.msgType === 'observe');
    assert.deepEqual(first, { requestID: 307, cacheID: 307, msgType: 'observe', data: { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 21.5 }] } });
    d.set('/3303/0/5700', 22.25);
    const n1 = await w.next('lwm2m/dev-obs/up/notify');
    assert.deepEqual(n1, { requestID: 307, cacheID: 307, msgType: 'notify', seqNum: 2, data: { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 22.25 }] } });
    d.set('/3303/0/5700', 23);
    const n2 = await w.next('lwm2m/dev-obs/up/notify');
    assert.ok((n2.seqNum as number) > (n1.seqNum as number), 'seqNum increases');
    w.command('dev-obs', { reqID: 9, msgType: 'cancel-observe', data: { path: '/3303/0/5700' } });
    const cancel = await w.next(RESP('dev-obs'), (j) => j.msgType === 'cancel-observe');
    assert.equal((cancel.data as { code: string }).code, '2.05');
    assert.equal(d.observerCount, 0);
  });

  test('block-wise read of a resource larger than 1 KB', async () => {
    const d = await g.device({ ep: 'dev-big' });
    await d.register();
    await w.next(RESP('dev-big'), (j) => j.msgType === 'register');
    const big = 'x'.repeat(3000);
    d.set('/3303/0/5750', big);
    w.command('dev-big', { reqID: 1, msgType: 'read', data: { path: '/3303/0/5750' } });
    const r = await w.next(RESP('dev-big'), (j) => j.msgType === 'read');
    assert.deepEqual(r.data, { reqPath: '/3303/0/5750', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5750', value: big }] });
  });
});

test('IPv6: a device registers and is read over ::1', async (t) => {
  const { createSocket } = await import('node:dgram');
  const probe = createSocket({ type: 'udp6', ipv6Only: true });
  const ok = await new Promise<boolean>((resolve) => {
    probe.once('error', () => resolve(false));
    probe.bind(0, '::1', () => resolve(true));
  });
  probe.close();
  if (!ok) return t.skip('no IPv6 loopback on this host');
  const g6 = await startLwm2m({ ipv6: { enabled: true, host: '::1' } });
  try {
    const w6 = await g6.watch();
    const d = await g6.device({ ep: 'dev-v6', host: '::1' });
    assert.equal(await d.register(), '2.01');
    assert.match(g6.gw.registry.get('lwm2m', 'dev-v6')?.address ?? '', /^\[::1\]:\d+$/);
    w6.command('dev-v6', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
    const r = await w6.next('lwm2m/dev-v6/up/resp', (j) => j.msgType === 'read');
    assert.deepEqual(r.data, { reqPath: '/3/0/0', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/0', value: 'fieldgate-sim' }] });
  } finally {
    await g6.stop();
  }
});
