import assert from 'node:assert/strict';
import { test } from 'node:test';
import { memoryDatagram } from '../test/datagram-pair.ts';
import { ServiceRegistry, covers, startOrder, type ServiceDeclaration } from './services.ts';

const modem = { name: 'modem', provides: ['datagram/'] };
const coap = { name: 'coap', uses: ['datagram/'] };

test('a consumer watching a prefix sees a provider come, go, and come back as a new instance', () => {
  const reg = new ServiceRegistry();
  const seen: [string, string | undefined][] = [];
  const consumer = reg.scoped(coap);
  consumer.watchPrefix('datagram/', (name, t) => seen.push([name, t?.name]));
  const run1 = reg.scoped(modem);
  const a = memoryDatagram({ name: 'nb0' }).transport;
  run1.provide('datagram/nb0', a);
  assert.equal(consumer.get('datagram/nb0'), a);
  run1.close(); // the modem's run ended: withdrawn
  assert.equal(consumer.get('datagram/nb0'), undefined);
  const run2 = reg.scoped(modem);
  const b = memoryDatagram({ name: 'nb0' }).transport;
  run2.provide('datagram/nb0', b);
  assert.deepEqual(seen, [['datagram/nb0', 'nb0'], ['datagram/nb0', undefined], ['datagram/nb0', 'nb0']]);
  assert.equal(consumer.get('datagram/nb0'), b);
  assert.notEqual(a, b);
});

test('watch reports what is already provided, then changes; a closed run stops hearing', () => {
  const reg = new ServiceRegistry();
  const p = reg.scoped(modem);
  const t = memoryDatagram({ name: 'nb1' }).transport;
  p.provide('datagram/nb1', t);
  const c = reg.scoped(coap);
  const got: unknown[] = [];
  c.watch('datagram/nb1', (v) => got.push(v));
  assert.deepEqual(got, [t]);
  c.close();
  p.withdraw('datagram/nb1');
  assert.deepEqual(got, [t], 'the closed consumer run is not called any more');
  assert.deepEqual(reg.list(), []);
});

test('undeclared provide or use is refused; a name has one provider', () => {
  const reg = new ServiceRegistry();
  const t = memoryDatagram().transport;
  assert.throws(() => reg.scoped({ name: 'tcp' }).provide('datagram/x', t), /tcp provides service datagram\/x without declaring it in provides/);
  assert.throws(() => reg.scoped({ name: 'tcp' }).get('datagram/x'), /tcp uses service datagram\/x without declaring it/);
  reg.scoped(modem).provide('datagram/x', t);
  assert.throws(() => reg.scoped({ name: 'modem2', provides: ['datagram/'] }).provide('datagram/x', t), /already provided by modem/);
});

test('a throwing watcher is reported and does not stop the others', () => {
  const errors: string[] = [];
  const reg = new ServiceRegistry((err, name) => errors.push(`${name}: ${err.message}`));
  const c = reg.scoped(coap);
  let calls = 0;
  c.watchPrefix('datagram/', () => {
    throw new Error('boom');
  });
  c.watchPrefix('datagram/', () => calls++);
  reg.scoped(modem).provide('datagram/nb0', memoryDatagram().transport);
  assert.deepEqual(errors, ['datagram/nb0: boom']);
  assert.equal(calls, 1);
});

test('covers: a trailing slash makes a prefix', () => {
  assert.ok(covers('datagram/', 'datagram/nb0'));
  assert.ok(!covers('datagram/nb0', 'datagram/nb1'));
  assert.ok(covers('datagram/nb0', 'datagram/nb0'));
});

const names = (u: ServiceDeclaration[]) => u.map((x) => x.name);

test('start order: providers first, otherwise the given order', () => {
  const tcp = { name: 'tcp' };
  const lwm2m = { name: 'lwm2m', uses: ['datagram/'] };
  const ble = { name: 'ble' };
  assert.deepEqual(names(startOrder([tcp, coap, lwm2m, ble, modem])), ['tcp', 'ble', 'modem', 'coap', 'lwm2m']);
  assert.deepEqual(names(startOrder([modem, tcp, coap])), ['modem', 'tcp', 'coap']);
  // A use nobody provides (not required) is fine: the modem may simply be disabled.
  assert.deepEqual(names(startOrder([tcp, coap])), ['tcp', 'coap']);
});

test('start order: a cycle is named; a required service nobody provides is an error', () => {
  const a = { name: 'a', provides: ['x'], uses: ['y'] };
  const b = { name: 'b', provides: ['y'], uses: ['z'] };
  const c = { name: 'c', provides: ['z'], uses: ['x'] };
  assert.throws(() => startOrder([{ name: 'd' }, a, b, c]), /cycle \(each needs the next one started first\): a -> b -> c -> a/);
  assert.throws(() => startOrder([{ name: 'coap', requires: ['datagram/nb0'] }]), /coap requires the service datagram\/nb0, which no enabled adapter or component provides/);
  assert.deepEqual(names(startOrder([{ name: 'coap', requires: ['datagram/nb0'] }, modem])), ['modem', 'coap']);
});
