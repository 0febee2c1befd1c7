import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
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
  } finally {
    dir.remove();
  }
});
