// Over real UDP against the simulated device: SenML CBOR (112) answers, a device under an
// alternate path (`rt="oma.lwm2m"`), and a re-Register from a new address keeping identity and
// queued commands.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { startLwm2m, type Lwm2mGateway, type Watcher } from './test-support.ts';

const RESP = (ep: string) => `lwm2m/${ep}/up/resp`;

describe('LwM2M: formats, alternate path, re-registration', () => {
  let g: Lwm2mGateway;
  let w: Watcher;
  before(async () => {
    g = await startLwm2m({ write_format: 'senml-cbor', qmode_time_window: '200ms' });
    w = await g.watch();
  });
  after(async () => {
    await g.stop();
  });

  test('write_format senml-cbor: reads ask Accept 112, the device answers SenML CBOR, values decoded', async () => {
    const d = await g.device({ ep: 'dev-cbor' });
    await d.register();
    await w.next(RESP('dev-cbor'), (j) => j.msgType === 'register');
    w.command('dev-cbor', { reqID: 1, msgType: 'read', data: { path: '/3303/0' } });
    const r = await w.next(RESP('dev-cbor'), (j) => j.reqID === 1);
    assert.equal((r.data as { code: string }).code, '2.05');
    const content = (r.data as { content: { path: string; value: unknown }[] }).content;
    assert.deepEqual(content.find((c) => c.path === '/3303/0/5700')?.value, 21.5);
    assert.deepEqual(content.find((c) => c.path === '/3303/0/5701')?.value, 'Cel');
    assert.equal(d.received.at(-1)?.accept, 112);
  });

  test('alternate path: commands are sent under the device root (/lwm2m/3/0/...)', async () => {
    const d = await g.device({ ep: 'dev-alt', altPath: '/lwm2m' });
    const raw: string[] = [];
    d.socket.on('message', (msg) => raw.push(msg.toString('latin1')));
    await d.register();
    const reg = await w.next(RESP('dev-alt'), (j) => j.msgType === 'register');
    assert.equal((reg.data as { alternatePath: string }).alternatePath, '/lwm2m');
    w.command('dev-alt', { reqID: 1, msgType: 'read', data: { path: '/3/0/0' } });
    const r = await w.next(RESP('dev-alt'), (j) => j.reqID === 1);
    assert.deepEqual((r.data as { content: unknown }).content, [{ path: '/3/0/0', value: 'fieldgate-sim' }]);
    // The sim strips its root before recording: the Uri-Path on the wire began with "lwm2m".
    assert.ok(raw.some((m) => m.includes('lwm2m') && m.includes('\u00010\u00010')), 'Uri-Path lwm2m/3/0/0 on the wire');
  });

  test('a re-Register from a new address keeps identity and queued commands', async () => {
    const d = await g.device({ ep: 'dev-move', binding: 'UQ' });
    await d.register();
    await w.next(RESP('dev-move'), (j) => j.msgType === 'register');
    await until(() => g.metric('devices_asleep') === g.metric('devices_queue_mode'), 'the device asleep');
    w.command('dev-move', { reqID: 7, msgType: 'read', data: { path: '/3/0/2' } });
    await until(() => g.metric('commands_queued') === 1, 'the command queued');
    const id = g.gw.registry.get('lwm2m', 'dev-move')?.id;
    await d.rebind();
    assert.equal(await d.register(), '2.01');
    const r = await w.next(RESP('dev-move'), (j) => j.reqID === 7);
    assert.deepEqual((r.data as { content: unknown }).content, [{ path: '/3/0/2', value: 'SN-dev-move' }]);
    assert.equal(g.gw.registry.get('lwm2m', 'dev-move')?.id, id);
    assert.equal(g.metric('devices'), 3);
  });
});
