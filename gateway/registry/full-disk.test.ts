import assert from 'node:assert/strict';
import { unlinkSync } from 'node:fs';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { buildSchema } from '../app/config.ts';
import { Gateway } from '../app/gateway.ts';
import { validateConfig } from '../config/load.ts';
import { createLogger } from '../log/logger.ts';
import { collect, connect, endClient } from '../test/helpers.ts';
import { fill, smallFilesystem, smallFsSkip } from '../test/small-fs.ts';
import { DeviceRegistry } from './registry.ts';

// Issue 11 item 5: the registry on a full disk logs one clear line, keeps every device in memory,
// keeps the gateway serving, and saves what it missed once there is room again. A real 1 MB tmpfs.

const skip = smallFsSkip();

test('a full disk: the registry logs one clear line, the gateway keeps serving, and the devices are saved once there is room', { skip }, async (t) => {
  const fs = smallFilesystem();
  if (typeof fs === 'string') return t.skip(fs);
  const lines: { level: number; msg: string }[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const config = validateConfig(buildSchema([]), { gateway: { data_dir: fs.path }, broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, http: { enabled: false } }, 'test');
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: 'info', format: 'json', destination: dest }) });
  await gw.start();
  try {
    const filler = fill(fs.path);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 200; i++) gw.registry.seen({ protocol: 'test', id: `r${round}-${i}`, address: `10.1.${round}.${i}:1` });
      await gw.registry.sync();
    }
    await gw.registry.compact();
    const registryLines = lines.filter((l) => /device registry/.test(l.msg));
    assert.equal(registryLines.length, 1, `one line for 6 failed saves, got:\n${registryLines.map((l) => l.msg).join('\n')}`);
    assert.match(registryLines[0]!.msg, /cannot save the device registry in .*disk full/);
    assert.equal(gw.registry.size, 1000, 'every device is kept in memory');

    // Still serving: a subscriber gets a QoS 1 message.
    const sub = await connect(`mqtt://127.0.0.1:${gw.broker.ports.tcp}`);
    await sub.subscribeAsync('still/serving', { qos: 1 });
    const got = collect(sub, 1);
    const pub = await connect(`mqtt://127.0.0.1:${gw.broker.ports.tcp}`);
    await pub.publishAsync('still/serving', 'yes', { qos: 1 });
    assert.equal((await got)[0]!.payload, 'yes');
    await endClient(sub);
    await endClient(pub);

    // Room again: the next save writes what the failed ones could not.
    unlinkSync(filler);
    gw.registry.seen({ protocol: 'test', id: 'after' });
    await gw.registry.sync();
    const reloaded = new DeviceRegistry(fs.path);
    assert.equal(reloaded.load(), undefined);
    assert.equal(reloaded.size, 1001, 'the devices journaled after the disk had room again');
    assert.equal(reloaded.get('test', 'r0-0')?.address, '10.1.0.0:1');
  } finally {
    await gw.stop();
    fs.remove();
  }
});
