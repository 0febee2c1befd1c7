// EMQX's `translators` and `mountpoint`: each kind of message on its configured topic and QoS
// (QoS 2 is delivered as QoS 1), commands taken from the configured command topic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connect, endClient, until } from '../../gateway/test/helpers.ts';
import { startLwm2m } from './test-support.ts';

test('translators: register, response, notify and update on their own topics and QoS under an EMQX 4.x mountpoint; commands on cmd/#', async () => {
  const g = await startLwm2m({
    mountpoint: 'dm/%e/',
    translators: {
      command: { topic: 'cmd/#' },
      response: { topic: 'out/resp', qos: 1 },
      notify: { topic: 'out/note', qos: 2 },
      register: { topic: 'out/reg', qos: 1 },
      update: { topic: 'out/upd' },
    },
  });
  const c = await connect(g.url);
  try {
    const got: { topic: string; qos: number; json: Record<string, unknown> }[] = [];
    c.on('message', (topic, payload, packet) => got.push({ topic, qos: packet.qos, json: JSON.parse(payload.toString()) as Record<string, unknown> }));
    await c.subscribeAsync('dm/#', { qos: 2 });
    const next = async (topic: string, pred: (j: Record<string, unknown>) => boolean = () => true) => {
      await until(() => got.some((m) => m.topic === topic && pred(m.json)), topic);
      return got.find((m) => m.topic === topic && pred(m.json))!;
    };

    const d = await g.device({ ep: 'dev-tr' });
    await d.register();
    const reg = await next('dm/dev-tr/out/reg');
    assert.equal(reg.json.msgType, 'register');
    assert.equal(reg.qos, 1);

    c.publish('dm/dev-tr/cmd/any', JSON.stringify({ reqID: 1, msgType: 'observe', data: { path: '/3303/0/5700' } }), { qos: 1 });
    const resp = await next('dm/dev-tr/out/resp', (j) => j.reqID === 1 && j.msgType === 'observe');
    assert.equal((resp.json.data as { code: string }).code, '2.05');
    assert.equal(resp.qos, 1);

    d.set('/3303/0/5700', 30.5);
    const note = await next('dm/dev-tr/out/note');
    assert.equal(note.json.msgType, 'notify');
    assert.equal(note.qos, 1, 'QoS 2 is delivered as QoS 1');

    await d.update(['lt=300']);
    const upd = await next('dm/dev-tr/out/upd');
    assert.equal(upd.json.msgType, 'update');
    assert.equal(upd.qos, 0);

    assert.deepEqual([...new Set(got.map((m) => m.topic))].sort(), ['dm/dev-tr/cmd/any', 'dm/dev-tr/out/note', 'dm/dev-tr/out/reg', 'dm/dev-tr/out/resp', 'dm/dev-tr/out/upd'], 'nothing on the default topics');
  } finally {
    await endClient(c);
    await g.stop();
  }
});
