// The adapter against an independent third-party LwM2M client: lwm2m-node-lib's (Telefonica),
// over real UDP on 127.0.0.1. It answers single resources in text (its own 1541 format number),
// so the gateway writes text/plain here (`write_format: text`).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { NodeLibClient } from '../../firmware-sim/lwm2m/node-lib-client.ts';
import { startLwm2m, type Lwm2mGateway, type Watcher } from './test-support.ts';

let g: Lwm2mGateway;
let w: Watcher;
const RESP = 'lwm2m/nodelib/up/resp';

before(async () => {
  g = await startLwm2m({ lifetime_min: '1s', write_format: 'text', coap: { ack_timeout: '200ms', max_retransmit: 1, separate_timeout: '2s' } });
  w = await g.watch();
});
after(async () => {
  await g.stop();
});

test('lwm2m-node-lib client: register, read, write, execute, observe/notify, cancel-observe (reactive, by RST), write-attr, create/delete (not served by the lib), discover, update, de-register, expire', async () => {
  const c = new NodeLibClient({ host: '127.0.0.1', port: g.lwm2mPort, ep: 'nodelib', lifetime: 60 });
  await c.setup({ '/3/0': { 0: 'Telefonica', 9: 80 }, '/3303/0': { 5700: 21.5 } });
  const info = await c.register();
  assert.match(info.location, /^rd\/[0-9a-f]{12}$/);
  assert.deepEqual(await w.next(RESP, (j) => j.msgType === 'register'), { msgType: 'register', data: { ep: 'nodelib', lt: 60, lwm2m: '1.0', b: 'U', alternatePath: '/', objectList: ['/3/0', '/3303/0'] } });
  const ask = async (cmd: Record<string, unknown>) => {
    w.command('nodelib', cmd);
    return w.next(RESP, (j) => j.reqID === cmd.reqID && j.msgType !== 'ack', String(cmd.msgType));
  };
  assert.deepEqual(await ask({ reqID: 1, msgType: 'read', data: { path: '/3/0/0' } }), { reqID: 1, msgType: 'read', data: { reqPath: '/3/0/0', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/0', value: 'Telefonica' }] } });
  assert.deepEqual((await ask({ reqID: 2, msgType: 'read', data: { path: '/3/0/9' } })).data, { reqPath: '/3/0/9', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/9', value: 80 }] });
  assert.deepEqual((await ask({ reqID: 3, msgType: 'write', data: { path: '/3/0/14', type: 'String', value: '+01:00' } })).data, { reqPath: '/3/0/14', code: '2.04', codeMsg: 'changed' });
  assert.deepEqual(c.writes.at(-1), { objectType: '3', objectId: '0', resourceId: '14', value: '+01:00' });
  assert.deepEqual((await ask({ reqID: 4, msgType: 'execute', data: { path: '/3/0/4', args: 'now' } })).data, { reqPath: '/3/0/4', code: '2.04', codeMsg: 'changed' });
  assert.equal(c.executes.length, 1);
  assert.deepEqual((await ask({ reqID: 5, msgType: 'discover', data: { path: '/3/0' } })).data, { reqPath: '/3/0', code: '2.05', codeMsg: 'content', content: ['</3/0>', '</3/0/0>', '</3/0/9>', '</3/0/14>'] });
  const obs = await ask({ reqID: 6, msgType: 'observe', data: { path: '/3303/0/5700' } });
  assert.deepEqual(obs.data, { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 21.5 }] });
  await c.setResource('/3303/0', '5700', 25);
  const n1 = await w.next('lwm2m/nodelib/up/notify');
  assert.deepEqual(n1.data, { reqPath: '/3303/0/5700', code: '2.05', codeMsg: 'content', content: [{ path: '/3303/0/5700', value: 25 }] });
  await c.setResource('/3303/0', '5700', 26);
  const n2 = await w.next('lwm2m/nodelib/up/notify');
  assert.ok((n2.seqNum as number) > (n1.seqNum as number));
  // cancel-observe: the library never answers the deregistration GET with Observe=1 (any GET with
  // an Observe option registers an observer), so the command ends in coap_timeout. The gateway
  // forgets the observation anyway and answers the next notification with RST (RFC 7641 3.6); the
  // library's CoAP stack then ends the stream and the library drops its observer.
  const notifies = g.metric('published_notify');
  assert.deepEqual(await ask({ reqID: 7, msgType: 'cancel-observe', data: { path: '/3303/0/5700' } }), { reqID: 7, msgType: 'coap_timeout', data: { path: '/3303/0/5700' } });
  assert.deepEqual(await c.observers(), ['/3303/0/5700'], 'still observed on the library side');
  let v = 30;
  await until(async () => {
    await c.setResource('/3303/0', '5700', v++);
    return (await c.observers()).length === 0;
  }, 'the library dropped its observer after the RST');
  assert.equal(g.metric('published_notify'), notifies, 'no notify published after cancel-observe');
  // write-attr: the library stores Write-Attributes (PUT with a query) and shows them in Discover.
  assert.deepEqual((await ask({ reqID: 8, msgType: 'write-attr', data: { path: '/3/0/9', pmin: 1, pmax: 5 } })).data, { reqPath: '/3/0/9', code: '2.04', codeMsg: 'changed' });
  const disc = ((await ask({ reqID: 9, msgType: 'discover', data: { path: '/3/0/9' } })).data as { content: string[] }).content;
  assert.ok(disc.some((l) => l.includes('pmin=1') && l.includes('pmax=5')), `attributes in discover: ${JSON.stringify(disc)}`);
  // create and delete: the library routes only read, write and execute, so neither is served
  // (it leaves them unanswered or answers 4.04); the gateway reports that, never a success.
  for (const cmd of [{ reqID: 10, msgType: 'create', data: { basePath: '/3303', content: [{ path: '5750', type: 'String', value: 'x' }] } }, { reqID: 11, msgType: 'delete', data: { path: '/3303/0' } }]) {
    const r = await ask(cmd);
    const code = (r.data as { code?: string }).code ?? '';
    assert.ok(r.msgType === 'coap_timeout' || /^4\./.test(code), JSON.stringify(r));
  }
  await c.update();
  assert.equal((await w.next('lwm2m/nodelib/up/update')).msgType, 'update');
  await c.unregister();
  await until(() => g.metric('devices') === 0, 'de-registered');

  // Expiry: a 1 s lifetime and no Update.
  const e = new NodeLibClient({ host: '127.0.0.1', port: g.lwm2mPort, ep: 'nodelib', lifetime: 1 });
  await e.setup({ '/3/0': { 0: 'Telefonica' } });
  await e.register();
  await until(() => g.metric('devices') === 1, 'registered again');
  await until(() => g.metric('lifetime_expired') === 1, 'lifetime expired');
  assert.equal(g.metric('devices'), 0);
  await e.unregister().catch(() => undefined);
});
