import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fieldgate, finished, spawnFieldgate, started } from '../test/cli.ts';
import { tempDir } from '../test/helpers.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { DataDirInUse, DataDirLock, lockHolder } from './data-lock.ts';

test('in process: a second lock on the same directory is refused naming the holder; another directory is free', async () => {
  const dir = tempDir();
  try {
    const a = await DataDirLock.acquire(join(dir.path, 'd'), { version: 'x', config: 'a.yaml' });
    await assert.rejects(DataDirLock.acquire(join(dir.path, 'd'), {}), (err: unknown) => {
      assert.ok(err instanceof DataDirInUse);
      assert.match(err.message, new RegExp(`in use by another fieldgate \\(PID ${process.pid}, version x, config a\\.yaml\\)`));
      return true;
    });
    const other = await DataDirLock.acquire(join(dir.path, 'e'), {});
    assert.equal((await lockHolder(join(dir.path, 'd')))?.pid, process.pid);
    await a.release();
    await other.release();
    assert.equal(await lockHolder(join(dir.path, 'd')), undefined);
    await (await DataDirLock.acquire(join(dir.path, 'd'), {})).release();
  } finally {
    dir.remove();
  }
});

test('two gateways on one data_dir: the second refuses with one line naming the first; after kill -9 the directory is free', async () => {
  const dir = tempDir();
  const cfg = join(dir.path, 'fg.yaml');
  // Adapters and the HTTP API off: the defaults (CoAP 0.0.0.0:5683, HTTP 0.0.0.0:18083) are fixed ports.
  writeFileSync(cfg, testConfigYaml(join(dir.path, 'data')));
  const env = { NOTIFY_SOCKET: '', JOURNAL_STREAM: '' };
  const first = spawnFieldgate(['start', '--config', cfg], { env });
  try {
    await started(first);
    const second = await fieldgate(['start', '--config', cfg], { env });
    assert.equal(second.code, 1, second.stdout + second.stderr);
    assert.match(second.stdout, new RegExp(`data directory .*data is in use by another fieldgate \\(PID ${first.pid}, version [^,]+, config ${cfg.replace(/[/.]/g, '\\$&')}`));
    first.kill('SIGKILL');
    await finished(first);
    const third = spawnFieldgate(['start', '--config', cfg], { env });
    await started(third);
    third.kill('SIGTERM');
    assert.equal((await finished(third)).code, 0);
  } finally {
    first.kill('SIGKILL');
    dir.remove();
  }
});
