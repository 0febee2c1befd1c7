import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir, until } from '../test/helpers.ts';
import { DeviceRegistry, readRegistryFile } from './registry.ts';

test('devices survive a restart, all offline afterwards', () => {
  const dir = tempDir();
  try {
    let t = 1000;
    const r1 = new DeviceRegistry(dir.path, 10_000, () => t);
    r1.load();
    r1.seen({ protocol: 'coap', id: 's1', address: '10.0.0.5:5683' }, true);
    t = 2000;
    r1.seen({ protocol: 'tcp', id: 'm1' });
    r1.seen({ protocol: 'coap', id: 's1' });
    r1.close();
    const saved = readRegistryFile(dir.path);
    assert.equal(saved.length, 2);
    const r2 = new DeviceRegistry(dir.path);
    r2.load();
    const s1 = r2.get('coap', 's1')!;
    assert.deepEqual({ ...s1 }, { protocol: 'coap', id: 's1', address: '10.0.0.5:5683', first_seen: 1000, last_seen: 2000, online: false });
    assert.equal(r2.list('tcp').length, 1);
    r2.close();
  } finally {
    dir.remove();
  }
});

test('the registry is bounded: the least recently seen offline device is forgotten first', () => {
  const dir = tempDir();
  try {
    let t = 0;
    const r = new DeviceRegistry(dir.path, 10_000, () => ++t, 3);
    r.load();
    r.seen({ protocol: 'p', id: 'online' }, true);
    r.seen({ protocol: 'p', id: 'a' });
    r.seen({ protocol: 'p', id: 'b' });
    r.seen({ protocol: 'p', id: 'a' }); // a is now more recent than b
    r.seen({ protocol: 'p', id: 'c' });
    assert.deepEqual(r.list().map((d) => d.id).sort(), ['a', 'c', 'online']);
    assert.equal(r.evicted, 1);
    for (let i = 0; i < 100; i++) r.seen({ protocol: 'p', id: `flood-${i}` });
    assert.equal(r.size, 3);
    assert.ok(r.get('p', 'online'), 'an online device is never forgotten');
    r.close();
  } finally {
    dir.remove();
  }
});

test('a corrupt registry file is a clear error naming the file; the gateway moves it aside and starts', () => {
  const dir = tempDir();
  try {
    const r = new DeviceRegistry(dir.path);
    r.load();
    r.seen({ protocol: 'x', id: '1' });
    r.close();
    writeFileSync(`${dir.path}/devices.json`, '{not json');
    assert.throws(() => readRegistryFile(dir.path), /devices\.json/);
    const r2 = new DeviceRegistry(dir.path);
    assert.match(r2.load()!, /moved it to .*devices\.json\.corrupt-/);
    assert.equal(r2.size, 0);
    r2.close();
  } finally {
    dir.remove();
  }
});

test('a message from a known device writes nothing; a new device or address is journaled, fsync\'d, and replayed without a clean stop', async () => {
  const dir = tempDir();
  try {
    let t = 1000;
    const r1 = new DeviceRegistry(dir.path, 60_000, () => t);
    r1.load();
    r1.seen({ protocol: 'coap', id: 'a', address: '10.0.0.1:1' });
    await r1.sync();
    const afterNew = r1.bytesWritten;
    for (let i = 0; i < 1000; i++) {
      t++;
      r1.seen({ protocol: 'coap', id: 'a', address: '10.0.0.1:1' });
    }
    await r1.sync();
    assert.equal(r1.bytesWritten, afterNew, 'last-seen updates stay in memory');
    r1.seen({ protocol: 'coap', id: 'a', address: '10.0.0.2:1' });
    r1.seen({ protocol: 'coap', id: 'b' });
    await r1.sync();
    assert.ok(r1.bytesWritten > afterNew);
    // No close(): as after kill -9. Last-seen is as of the last journal line (coarse), addresses exact.
    const r2 = new DeviceRegistry(dir.path);
    assert.equal(r2.load(), undefined);
    assert.equal(r2.get('coap', 'a')?.address, '10.0.0.2:1');
    assert.equal(r2.get('coap', 'a')?.first_seen, 1000);
    assert.ok(r2.get('coap', 'b'));
    r2.close();
    r1.close();
  } finally {
    dir.remove();
  }
});

test('a torn last journal line is skipped with a warning; the next start is clean', async () => {
  const dir = tempDir();
  try {
    const r1 = new DeviceRegistry(dir.path, 60_000);
    r1.load();
    r1.seen({ protocol: 'p', id: 'kept' });
    await r1.sync();
    const journal = readdirSync(dir.path).find((f) => f.startsWith('devices.journal.'))!;
    appendFileSync(join(dir.path, journal), '{"protocol":"p","id":"torn","first_se');
    const r2 = new DeviceRegistry(dir.path, 60_000);
    assert.match(r2.load() ?? '', /skipped 1 unreadable journal line/);
    assert.ok(r2.get('p', 'kept'));
    assert.equal(r2.get('p', 'torn'), undefined);
    r2.seen({ protocol: 'p', id: 'after' });
    await r2.sync();
    const r3 = new DeviceRegistry(dir.path, 60_000);
    assert.equal(r3.load(), undefined, 'the torn journal was folded into a snapshot and removed');
    assert.deepEqual(r3.list().map((d) => d.id).sort(), ['after', 'kept']);
    for (const r of [r1, r2, r3]) r.close();
  } finally {
    dir.remove();
  }
});

test('kill -9 in the middle of journal appends and snapshots: every fsync\'d batch is recovered', async () => {
  const dir = tempDir();
  const children: ChildProcess[] = [];
  try {
    let next = 0;
    const allDurable: number[] = [];
    for (let round = 0; round < 3; round++) {
      const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'test', 'crash-writer.ts'), dir.path, String(next)], { stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise((r) => child.once('exit', r));
      await until(() => (out.match(/durable/g)?.length ?? 0) >= 20 + round * 7, `round ${round}: the writer reports durable batches (stderr: ${err})`, 60_000);
      child.kill('SIGKILL');
      await exited;
      const durable = [...out.matchAll(/durable (\d+)/g)].map((m) => Number(m[1]));
      const last = Math.max(...durable);
      allDurable.push(...durable);
      const devices = new Map(readRegistryFile(dir.path).map((d) => [d.id, d]));
      for (const b of allDurable) for (const i of [0, 49]) assert.ok(devices.has(`b${b}-d${i}`), `round ${round}: b${b}-d${i} was fsync'd and must be recovered`);
      const mover = Number(devices.get('mover')?.address?.replace('batch-', ''));
      assert.ok(mover >= last, `round ${round}: the last durable address (batch-${last}) or a newer one is kept, got ${devices.get('mover')?.address}`);
      next = last + 1000; // the next round writes new ids on top of what this one left
    }
  } finally {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    dir.remove();
  }
});
