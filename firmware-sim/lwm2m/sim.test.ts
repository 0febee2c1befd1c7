// The simulator's fleet and CLI against a real gateway (the device itself is exercised by
// adapters/lwm2m/*.test.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { until } from '../../gateway/test/helpers.ts';
import { startLwm2m } from '../../adapters/lwm2m/test-support.ts';
import { Fleet } from './fleet.ts';
import { main } from './cli.ts';

test('a fleet registers from distinct loopback addresses, notifies when observed, de-registers', async () => {
  const g = await startLwm2m();
  const w = await g.watch();
  const fleet = new Fleet({ host: '127.0.0.1', port: g.lwm2mPort, devices: 3, prefix: 'f', lifetime: 60, binding: 'U', interval: 0.05 });
  try {
    assert.equal(await fleet.start(), 3);
    assert.deepEqual(fleet.devices.map((d) => d.socket.address().address), ['127.0.1.2', '127.0.1.3', '127.0.1.4']);
    assert.equal(g.metric('devices'), 3);
    w.command('f-2', { reqID: 1, msgType: 'observe', data: { path: '/3303/0/5700' } });
    const n = await w.next('lwm2m/f-2/up/notify');
    assert.equal(n.reqID, 1);
  } finally {
    await fleet.stop();
  }
  await until(() => g.metric('devices') === 0, 'all de-registered');
  await g.stop();
});

test('cli: bad options exit 2, --help exits 0', async () => {
  const write = process.stdout.write.bind(process.stdout);
  const ewrite = process.stderr.write.bind(process.stderr);
  process.stdout.write = () => true;
  process.stderr.write = () => true;
  try {
    assert.equal(await main(['--devices', 'many']), 2);
    assert.equal(await main(['--bogus']), 2);
    assert.equal(await main(['--help']), 0);
  } finally {
    process.stdout.write = write;
    process.stderr.write = ewrite;
  }
});

test('firmware update flow over MQTT commands: write the Package URI, observe State, execute Update', async () => {
  const g = await startLwm2m();
  try {
    const w = await g.watch();
    const d = await g.device({ ep: 'fw' });
    await d.register();
    w.command('fw', { reqID: 1, msgType: 'observe', data: { path: '/5/0/3' } });
    await w.next('lwm2m/fw/up/resp', (j) => j.msgType === 'observe');
    w.command('fw', { reqID: 2, msgType: 'write', data: { path: '/5/0/1', type: 'String', value: 'coap://fw.example/v2.bin' } });
    assert.equal(((await w.next('lwm2m/fw/up/resp', (j) => j.reqID === 2)).data as { code: string }).code, '2.04');
    const state = async (v: number) => w.next('lwm2m/fw/up/notify', (j) => (j.data as { content: { value: unknown }[] }).content[0]?.value === v, `State ${v}`);
    await state(1);
    await state(2);
    w.command('fw', { reqID: 3, msgType: 'execute', data: { path: '/5/0/2' } });
    await state(3);
    await state(0);
    w.command('fw', { reqID: 4, msgType: 'read', data: { path: '/5/0' } });
    const r = await w.next('lwm2m/fw/up/resp', (j) => j.reqID === 4);
    const content = (r.data as { content: { path: string; value: unknown }[] }).content;
    assert.deepEqual(content.find((c) => c.path === '/5/0/5'), { path: '/5/0/5', value: 1 }, 'Update Result: success');
    assert.deepEqual(content.find((c) => c.path === '/5/0/7'), { path: '/5/0/7', value: '1.0.1' });
  } finally {
    await g.stop();
  }
});
