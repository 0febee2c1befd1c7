import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { connect, endClient, tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { startCapturedGateway, type LogLine } from './test/captured-gateway.ts';
import { Mosquitto, MOSQUITTO } from './test/mosquitto.ts';

// Issue 17 item 6: after a torn tail the message-id counter must not rewind below what the cloud
// already has, the start line must say what was lost (acknowledged records included), and a
// corrupt checkpoint.json must be reported.

const skip = missingTool(MOSQUITTO, 'mosquitto');

// It failed about 1 run in 3 with "3 of 5 new ids" (issue 17): no id was reused, but the
// checkpoint's position kept its file offset into the zeroed tail, which open() had cut off. New
// records were written below that offset, so the ones appended before the upstream's first read
// were skipped (never sent, though acknowledged); later ones came from the tail cache by seq.
// SegmentLog.fromCheckpoint now moves such an offset to the cut (lane-store-suite.ts covers it).
test('a zeroed log tail holding messages one upstream acknowledged: no fg-id is reused and the loss is reported exactly', { skip }, async () => {
  const work = tempDir('fieldgate-taildamage-');
  const cloud = await Mosquitto.create(work.path);
  await cloud.start();
  const data = join(work.path, 'data');
  // A second upstream that stays down keeps the acknowledged records in the log (nothing is
  // released until every upstream has them), as a crash before the next release would.
  const doc = {
    gateway: { data_dir: data },
    bridge: {
      queue: { checkpoint_interval: '50ms' },
      upstreams: [
        { name: 'cloud', servers: [cloud.url], message_id: 'envelope', backoff: { initial: '50ms', max: '200ms' } },
        { name: 'down', servers: ['mqtt://127.0.0.1:1'], message_id: 'envelope', backoff: { initial: '1s', max: '1s' } },
      ],
    },
  };
  const ids = new Set<string>();
  const watcher = await connect(cloud.url);
  watcher.on('message', (topic, payload) => {
    if (!topic.endsWith('/status')) ids.add((JSON.parse(payload.toString()) as { id: string }).id);
  });
  await watcher.subscribeAsync('#', { qos: 1 });
  try {
    const first: LogLine[] = [];
    const a = await startCapturedGateway(doc, first);
    for (let i = 0; i < 200; i++) await a.gw.broker.publish({ topic: 'dev/t', payload: Buffer.from(`m${i}`.padEnd(40, '.')), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' });
    await until(() => ids.size === 200, 'the cloud to receive all 200');
    const cp = join(data, 'bridge', 'checkpoint.json');
    await until(() => {
      try {
        return (JSON.parse(readFileSync(cp, 'utf8')) as { positions: Record<string, { seq: number }> }).positions['cloud/normal']?.seq === 200;
      } catch {
        return false;
      }
    }, 'the checkpoint to acknowledge all 200');
    await a.gw.stop();

    // Power loss zeroed the last 4 KB of the segment: about half the acknowledged messages.
    const lane = join(data, 'bridge', 'normal');
    const seg = join(lane, readdirSync(lane).filter((f) => f.endsWith('.seg')).sort().at(-1)!);
    const buf = readFileSync(seg);
    assert.ok(buf.length > 4096);
    buf.fill(0, buf.length - 4096);
    writeFileSync(seg, buf);

    const second: LogLine[] = [];
    const b = await startCapturedGateway(doc, second);
    try {
      const damage = second.find((l) => /bridge log damaged/.test(l.msg));
      assert.ok(damage, `no damage line in ${JSON.stringify(second.map((l) => l.msg))}`);
      const lost = (damage.lost_end_seq as number) - (damage.lost_first_seq as number);
      assert.ok(lost > 50, `the zeroed tail held ${lost} messages`);
      assert.equal(damage.lost_end_seq, 200);
      // Delivered to "cloud" (nothing lost there), never to "down".
      assert.deepEqual(damage.lost_for, { cloud: 0, down: lost });
      assert.equal(damage.lost_acknowledged, 0);
      assert.match(damage.msg, new RegExp(`seq ${damage.lost_first_seq as number}\\.\\.199 \\(${lost} messages\\).*lost: cloud 0, down ${lost}`));

      const before = ids.size;
      for (let i = 0; i < 5; i++) await b.gw.broker.publish({ topic: 'dev/t', payload: Buffer.from(`new${i}`), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' });
      // Every new message reaches the cloud with an id it has not seen (a reused id would not grow the set).
      await until(() => ids.size === before + 5, `5 new ids at the cloud (have ${ids.size - before})`);
    } finally {
      await b.gw.stop();
    }
    assert.ok(statSync(seg).size < buf.length);
  } finally {
    await endClient(watcher);
    await cloud.stop();
    work.remove();
  }
});

test('a corrupt checkpoint.json is reported and moved aside, not silently ignored', async () => {
  const work = tempDir('fieldgate-badcheckpoint-');
  const data = join(work.path, 'data');
  const doc = { gateway: { data_dir: data }, bridge: { upstreams: [{ name: 'cloud', servers: ['mqtt://127.0.0.1:1'], backoff: { initial: '1s', max: '1s' } }] } };
  try {
    const a = await startCapturedGateway(doc, []);
    await a.gw.stop();
    writeFileSync(join(data, 'bridge', 'checkpoint.json'), '{"positions": {"cloud/normal": {"seq": 12, "se');
    const lines: LogLine[] = [];
    const b = await startCapturedGateway(doc, lines);
    await b.gw.stop();
    const line = lines.find((l) => /checkpoint\.json was not used/.test(l.msg));
    assert.ok(line, `no report in ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.equal(line.level, 40);
    assert.ok(readdirSync(join(data, 'bridge')).some((f) => f.startsWith('checkpoint.json.corrupt-')));
  } finally {
    work.remove();
  }
});
