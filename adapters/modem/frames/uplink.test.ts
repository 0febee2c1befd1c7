import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MessageApi, PublishRequest } from '../../../gateway/core/adapter.ts';
import { Metrics } from '../../../gateway/metrics/metrics.ts';
import { modemConfigSchema } from '../config.ts';
import { ModemStats } from '../stats.ts';
import { Throttle } from '../throttle.ts';
import { UplinkHandler } from './uplink.ts';

test('a stalled broker: frames wait in order up to 1,000, then are dropped and counted (memory stays bounded)', async () => {
  const cfg = modemConfigSchema.parse({ enabled: true, modems: [{ name: 'm', type: 'rak3172', path: '/dev/null' }] }).modems[0]!;
  const held: { req: PublishRequest; release(): void }[] = [];
  const messages = { publish: (req: PublishRequest) => new Promise<void>((release) => held.push({ req, release })) } as Partial<MessageApi> as MessageApi;
  const metrics = new Metrics();
  const stats = new ModemStats(metrics, 'm');
  const warned: string[] = [];
  const h = new UplinkHandler(cfg, messages, stats, new Throttle((_f, m) => warned.push(m)), '/nonexistent/counters.json');
  const done: Promise<void>[] = [];
  for (let i = 0; i < 1005; i++) done.push(h.handle({ payload: Buffer.from([i & 0xff, i >> 8]) }));
  assert.equal(stats.dropped.backlog.value, 5);
  assert.equal(warned.length, 1);
  assert.match(warned[0] ?? '', /1000 frames already waiting to be published/);
  // Released one by one, in the order heard.
  for (let i = 0; i < 1000; i++) {
    while (held.length <= i) await new Promise((r) => setImmediate(r));
    held[i]!.release();
  }
  await Promise.all(done);
  assert.deepEqual(held.slice(0, 3).map((x) => JSON.parse(String(x.req.payload)).payload), ['0000', '0100', '0200']);
  assert.equal(stats.framesPublished.value, 1000);
  await h.close();
});
