import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Metrics } from './metrics.ts';

const value = async (m: Metrics, name: string, labels: Record<string, string> = {}) => {
  const f = (await m.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return f?.values.find((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x) && Object.keys(v.labels).filter((k) => k !== 'le').length === Object.keys(labels).length)?.value;
};

test('counters and gauges: prom-client families with labels, the same values by $SYS name in snapshot()', async () => {
  const m = new Metrics();
  const coap = m.scoped('adapters/{adapter}', { adapter: 'coap' });
  const tcp = m.scoped('adapters/{adapter}', { adapter: 'tcp' });
  coap.counter('messages/received').inc(3);
  tcp.counter('messages/received').inc();
  tcp.counter('closed/{reason}', { reason: 'parse_error' }).inc(2);
  const g = m.gauge('things');
  g.set(5);
  g.dec(2);
  assert.equal(coap.counter('messages/received').value, 3, 'asking again returns the same counter');
  assert.deepEqual(m.snapshot(), { 'adapters/coap/messages/received': 3, 'adapters/tcp/messages/received': 1, 'adapters/tcp/closed/parse_error': 2, things: 3 });
  assert.equal(await value(m, 'fieldgate_adapters_messages_received_total', { adapter: 'coap' }), 3);
  assert.equal(await value(m, 'fieldgate_adapters_messages_received_total', { adapter: 'tcp' }), 1);
  assert.equal(await value(m, 'fieldgate_adapters_closed_total', { adapter: 'tcp', reason: 'parse_error' }), 2);
  assert.equal(await value(m, 'fieldgate_things'), 3);
  coap.counter('messages/received').inc();
  assert.equal(await value(m, 'fieldgate_adapters_messages_received_total', { adapter: 'coap' }), 4, 'the next read has the increments since the last');
  const text = await m.registry.metrics();
  assert.match(text, /^# TYPE fieldgate_adapters_messages_received_total counter$/m);
  assert.match(text, /^fieldgate_adapters_messages_received_total\{adapter="coap"\} 4$/m);
  assert.deepEqual(await m.sysValues(), [
    ['adapters/coap/messages/received', 4],
    ['adapters/tcp/messages/received', 1],
    ['adapters/tcp/closed/parse_error', 2],
    ['things', 3],
  ]);
});

test('a counter never goes down; labels must match the {label} levels; one family has one type and one template', () => {
  const m = new Metrics();
  const c = m.counter('n');
  assert.throws(() => c.inc(-1), /only goes up/);
  assert.throws(() => c.inc(Number.NaN), /only goes up/);
  assert.equal(c.value, 0);
  assert.throws(() => m.counter('x/{reason}'), /labels \{\} do not match/);
  assert.throws(() => m.counter('x', { reason: 'a' }), /do not match/);
  m.gauge('level');
  assert.throws(() => m.counter('level'), /is a gauge/);
  m.counter('y/{a}', { a: '1' });
  assert.throws(() => m.counter('{a}/y', { a: '1' }), /already/, 'same family name, another template');
});

test('gaugeFn and counterFn are read at scrape; a failing reader is left out; histograms observe', async () => {
  const m = new Metrics();
  let depth = 7;
  let written = 100;
  m.gaugeFn('queue/{lane}', () => depth, { lane: 'high' });
  m.gaugeFn('broken', () => {
    throw new Error('stopping');
  });
  m.counterFn('bytes_written', () => written);
  assert.deepEqual(m.snapshot(), { 'queue/high': 7, bytes_written: 100 });
  assert.equal(await value(m, 'fieldgate_queue', { lane: 'high' }), 7);
  depth = 2;
  written = 150;
  assert.equal(await value(m, 'fieldgate_queue', { lane: 'high' }), 2);
  assert.equal(await value(m, 'fieldgate_bytes_written_total'), 150);
  const h = m.histogram('op_seconds/{op}', { op: 'sync' });
  h.observe(0.003);
  h.observe(0.2);
  const f = (await m.registry.getMetricsAsJSON()).find((x) => x.name === 'fieldgate_op_seconds')!;
  const values = f.values as { metricName?: string; labels: Record<string, string | number>; value: number }[];
  assert.equal(values.find((v) => v.metricName === 'fieldgate_op_seconds_count')?.value, 2);
  assert.equal(values.find((v) => v.metricName === 'fieldgate_op_seconds_bucket' && v.labels.le === 0.005)?.value, 1);
});

test('every Metrics has its own registry (several gateways in one process)', async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.counter('same').inc();
  b.counter('same').inc(5);
  assert.equal(await value(a, 'fieldgate_same_total'), 1);
  assert.equal(await value(b, 'fieldgate_same_total'), 5);
});
