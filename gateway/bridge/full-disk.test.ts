import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { buildSchema } from '../app/config.ts';
import { Gateway } from '../app/gateway.ts';
import { validateConfig } from '../config/load.ts';
import { createLogger } from '../log/logger.ts';
import { tempDir, until } from '../test/helpers.ts';
import { PUBACK, RawClient, publishPacket } from '../test/raw-mqtt.ts';
import { smallFilesystem, smallFsSkip } from '../test/small-fs.ts';
import { missingTool } from '../test/tools.ts';
import { Mosquitto, MOSQUITTO } from './test/mosquitto.ts';

// Issue 17 item 1: a full disk must not wedge the bridge. On a real 1 MB filesystem (tmpfs) one
// 16 MB segment is all there is, so the log can only recover if it lets go of a fully
// acknowledged *active* segment.

/** Publishes one QoS 1 message on a fresh raw connection: true on PUBACK, false when closed unacknowledged. */
async function publishOnce(port: number, topic: string, payload: Buffer): Promise<boolean> {
  const { client, code } = await RawClient.connect(port, { clientId: '' });
  assert.equal(code, 0);
  client.send(publishPacket(topic, payload, 1, 1));
  try {
    await client.next(PUBACK);
    client.end();
    return true;
  } catch {
    return false;
  } finally {
    client.destroy();
  }
}

const skip = smallFsSkip() ?? missingTool(MOSQUITTO, 'mosquitto');

test('a full disk: refusals are logged a bounded number of times, and the log recovers by itself once acknowledged', { skip }, async (t) => {
  const fs = smallFilesystem();
  if (typeof fs === 'string') return t.skip(fs);
  const work = tempDir('fieldgate-fulldisk-work-');
  const cloud = await Mosquitto.create(work.path);
  const lines: { level: number; msg: string }[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const doc = {
    gateway: { data_dir: work.path },
    broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
    bridge: {
      queue: { dir: fs.path, checkpoint_interval: '50ms' },
      upstreams: [{ name: 'cloud', servers: [cloud.url], backoff: { initial: '50ms', max: '200ms' } }],
    },
  };
  const config = validateConfig(buildSchema([]), doc, 'test');
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: 'info', format: 'json', destination: dest }) });
  await gw.start();
  const port = gw.broker.ports.tcp!;
  try {
    // Fill the filesystem while the cloud is down.
    const payload = Buffer.alloc(1000, 0x61);
    let accepted = 0;
    for (;;) {
      const ok = await gw.broker.publish({ topic: 'fill/x', payload, qos: 1, retain: false, origin: 'mqtt', clientid: 'filler' }).then(() => true, () => false);
      if (!ok) break;
      accepted++;
      assert.ok(accepted < 5000, 'a 1 MB filesystem should have filled');
    }
    // Remote clients keep trying while the disk is full: they are refused, the log stays short.
    // Not every one: the failing checkpoint truncates its temporary file at each attempt (every
    // 50 ms), which frees a block now and then that one 1 KB record fits into (seen in CI).
    const before = lines.length;
    let refused = 0;
    for (let i = 0; i < 40; i++) if (!(await publishOnce(port, 'fill/remote', payload))) refused++;
    assert.ok(refused >= 36, `only ${refused} of 40 publishes refused on a full disk`);
    // The checkpoint (every 50 ms) fails on the full disk all along: it must have said so, once.
    await until(() => lines.some((l) => /bridge checkpoint failed/.test(l.msg)), 'the checkpoint failure line');
    // Lines about the full disk (the upstream being down has its own, once-per-5-minutes line).
    const during = lines.slice(before).filter((l) => l.level >= 40 && !/^upstream /.test(l.msg));
    assert.ok(during.length <= 6, `a full disk wrote ${during.length} warning lines for 40 refused publishes:\n${during.map((l) => l.msg).join('\n')}`);

    // The cloud comes back and takes everything; the bridge must then accept again without a restart.
    await cloud.start();
    await until(() => gw.bridge.depth().messages === 0, 'the backlog to drain to the cloud', 30_000);
    await until(() => publishOnce(port, 'after/full', payload), 'a publish to be accepted again after the backlog drained', 15_000);
    for (let i = 0; i < 20; i++) assert.equal(await publishOnce(port, 'after/full', payload), true);
    assert.ok(accepted > 100, `only ${accepted} messages filled the disk`);
  } finally {
    await gw.stop();
    await cloud.stop();
    fs.remove();
    work.remove();
  }
});
