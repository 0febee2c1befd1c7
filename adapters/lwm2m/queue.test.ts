// Queue mode, command expiry, NAT rebinding, lifetime expiry, CoAP failures (timeout, reset,
// separate response) and bad input, over real UDP on 127.0.0.1 with short configured timeouts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { startLwm2m, type Lwm2mGateway, type Watcher } from './test-support.ts';

const RESP = (ep: string) => `lwm2m/${ep}/up/resp`;

describe('LwM2M: queue mode, expiry, failures', () => {
  let g: Lwm2mGateway;
  let w: Watcher;
  before(async () => {
    // Short CoAP timeouts (no long sleeps): a silent device times out after 40 + 80 ms.
    g = await startLwm2m({ lifetime_min: '1s', qmode_time_window: '300ms', coap: { ack_timeout: '40ms', max_retransmit: 1, ack_random_factor: 1, separate_timeout: '2s' }, max_queued_commands: 3 });
    w = await g.watch('#');
  });
  /** Every queue-mode device is outside its window (the gateway's own view): commands will wait. */
  const allAsleep = () => until(() => g.metric('devices_queue_mode') > 0 && g.metric('devices_asleep') === g.metric('devices_queue_mode'), 'queue-mode devices asleep');
  after(async () => {
    await g.stop();
  });

  test('queue mode: commands outside the window wait for the next Update, then go in order', async () => {
    const d = await g.device({ ep: 'dev-q', binding: 'UQ' });
    await d.register();
    await w.next(RESP('dev-q'), (j) => j.msgType === 'register');
    assert.ok(g.gw.registry.get('lwm2m', 'dev-q'));
    // Leave the window: wait until the gateway considers the device asleep.
    await allAsleep();
    const before = d.received.length;
    for (const [i, p] of ['/3/0/0', '/3/0/1', '/3/0/2'].entries()) w.command('dev-q', { reqID: i + 1, msgType: 'read', data: { path: p } });
    await until(() => g.metric('commands_queued') === 3, 'three commands queued');
    assert.equal(d.received.length, before, 'nothing sent while the device sleeps');
    // A fourth is over max_queued_commands: 5.03 at once.
    w.command('dev-q', { reqID: 4, msgType: 'read', data: { path: '/3/0/3' } });
    const full = await w.next(RESP('dev-q'), (j) => j.reqID === 4);
    assert.deepEqual([(full.data as { code: string }).code, (full.data as { codeMsg: string }).codeMsg], ['5.03', 'service_unavailable']);
    assert.equal(await d.update(), '2.04');
    const answers = [await w.next(RESP('dev-q'), (j) => j.msgType === 'read'), await w.next(RESP('dev-q'), (j) => j.msgType === 'read'), await w.next(RESP('dev-q'), (j) => j.msgType === 'read')];
    assert.deepEqual(answers.map((a) => a.reqID), [1, 2, 3]);
    assert.deepEqual(d.received.slice(before).map((r) => r.path), ['/3/0/0', '/3/0/1', '/3/0/2']);
  });

  test('an expired command is dropped and reported (mheaders.ttl, seconds)', async () => {
    const d = await g.device({ ep: 'dev-exp', binding: 'UQ' });
    await d.register();
    await w.next(RESP('dev-exp'), (j) => j.msgType === 'register');
    await allAsleep();
    w.command('dev-exp', { reqID: 1, msgType: 'read', mheaders: { ttl: 0.2 }, data: { path: '/3/0/0' } });
    w.command('dev-exp', { reqID: 2, msgType: 'read', data: { path: '/3/0/1' } });
    const expired = await w.next(RESP('dev-exp'), (j) => j.msgType === 'command_expired');
    assert.deepEqual(expired, { reqID: 1, mheaders: { ttl: 0.2 }, msgType: 'command_expired', data: { path: '/3/0/0' } });
    const n = d.received.length;
    assert.equal(await d.update(), '2.04');
    const r2 = await w.next(RESP('dev-exp'), (j) => j.msgType === 'read');
    assert.equal(r2.reqID, 2);
    assert.deepEqual(d.received.slice(n).map((r) => r.path), ['/3/0/1'], 'the expired one never went');
  });

  test('NAT rebinding: an Update from a new port keeps identity, commands follow, observation continues', async () => {
    const d = await g.device({ ep: 'dev-nat' });
    await d.register();
    await w.next(RESP('dev-nat'), (j) => j.msgType === 'register');
    w.command('dev-nat', { reqID: 1, msgType: 'observe', data: { path: '/3303/0/5700' } });
    await w.next(RESP('dev-nat'), (j) => j.msgType === 'observe');
    const oldPort = d.socket.address().port;
    await d.rebind();
    assert.notEqual(d.socket.address().port, oldPort);
    assert.equal(await d.update(), '2.04');
    await until(() => g.metric('rebinds') >= 1, 'rebind counted');
    await until(() => d.observerCount === 1 && d.received.filter((r) => r.observe === 0).length === 2, 're-observed at the new address');
    d.set('/3303/0/5700', 30.5);
    const n = await w.next('lwm2m/dev-nat/up/notify', (j) => (j.data as { content: { value: number }[] }).content[0]?.value === 30.5);
    assert.equal(n.reqID, 1, 'the notification still echoes the original command');
    w.command('dev-nat', { reqID: 2, msgType: 'read', data: { path: '/3/0/0' } });
    const r = await w.next(RESP('dev-nat'), (j) => j.reqID === 2);
    assert.equal((r.data as { code: string }).code, '2.05');
    assert.equal(g.gw.registry.get('lwm2m', 'dev-nat')?.address?.endsWith(`:${d.socket.address().port}`), true);
  });

  test('coap_timeout (device never answers), coap_reset (RST), ack (separate response), malformed TLV -> 4.00', async () => {
    const d = await g.device({ ep: 'dev-bad' });
    await d.register();
    await w.next(RESP('dev-bad'), (j) => j.msgType === 'register');
    d.behaviour = 'silent';
    w.command('dev-bad', { reqID: 1, cacheID: 5, msgType: 'read', data: { path: '/3/0/0' } });
    assert.deepEqual(await w.next(RESP('dev-bad'), (j) => j.reqID === 1), { reqID: 1, cacheID: 5, msgType: 'coap_timeout', data: { path: '/3/0/0' } });
    d.behaviour = 'reset';
    w.command('dev-bad', { reqID: 2, msgType: 'read', data: { path: '/3/0/0' } });
    assert.deepEqual(await w.next(RESP('dev-bad'), (j) => j.reqID === 2), { reqID: 2, msgType: 'coap_reset', data: { path: '/3/0/0' } });
    d.behaviour = 'separate';
    w.command('dev-bad', { requestID: 206, cacheID: 206, msgType: 'read', data: { path: '/3/0/0' } });
    assert.deepEqual(await w.next(RESP('dev-bad'), (j) => j.requestID === 206 && j.msgType === 'ack'), { requestID: 206, cacheID: 206, msgType: 'ack', data: { path: '/3/0/0' } });
    const late = await w.next(RESP('dev-bad'), (j) => j.requestID === 206 && j.msgType === 'read');
    assert.deepEqual(late.data, { reqPath: '/3/0/0', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/0', value: 'fieldgate-sim' }] });
    d.behaviour = 'garbage';
    w.command('dev-bad', { reqID: 4, msgType: 'read', data: { path: '/3/0' } });
    const bad = await w.next(RESP('dev-bad'), (j) => j.reqID === 4);
    assert.equal((bad.data as { code: string }).code, '4.00');
    assert.match((bad.data as { error: string }).error, /could not be decoded: TLV/);
    assert.ok(g.metric('payloads_undecodable') >= 1);
    d.behaviour = 'normal';
    w.command('dev-bad', { reqID: 5, msgType: 'read', data: { path: '/3/0/0' } });
    assert.equal(((await w.next(RESP('dev-bad'), (j) => j.reqID === 5)).data as { code: string }).code, '2.05', 'the gateway keeps serving');
  });

  test('invalid JSON on dn/ is dropped and counted; lifetime expiry -> $SYS disconnected reason timeout', async () => {
    const sys = await g.watch('$SYS/#');
    const d = await g.device({ ep: 'dev-life', lifetime: 1 });
    await d.register();
    await w.next(RESP('dev-life'), (j) => j.msgType === 'register');
    await until(() => sys.got.some((m) => m.topic.endsWith('/gateway/lwm2m/clients/dev-life/connected')), '$SYS connected event');
    assert.equal(sys.got.find((m) => m.topic.endsWith('/gateway/lwm2m/clients/dev-life/connected'))!.json.sockport, g.lwm2mPort, 'the local port the device reached');
    const before = g.metric('commands_invalid_json');
    w.command('dev-life', '{not json');
    w.command('dev-life', '[1,2]');
    await until(() => g.metric('commands_invalid_json') === before + 2, 'two invalid commands counted');
    await until(() => sys.got.some((m) => m.topic.endsWith('/gateway/lwm2m/clients/dev-life/disconnected')), '$SYS disconnected event');
    const ev = sys.got.find((m) => m.topic.endsWith('/gateway/lwm2m/clients/dev-life/disconnected'))!;
    assert.equal(ev.json.reason, 'timeout');
    assert.equal(g.gw.registry.get('lwm2m', 'dev-life')?.online ?? false, false);
  });
});
