import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { hashPassword } from '../auth/password.ts';
import { finished, spawnFieldgate, started } from '../test/cli.ts';
import { connect, connectError, endClient, tempDir, until } from '../test/helpers.ts';

// SIGHUP on a running `fieldgate start`: users, ACL, log levels and bridge rules change without
// dropping the clients that are connected; what needs a restart is named; a broken file changes
// nothing; the process never dies on it.

test('SIGHUP reloads users and log levels, keeps clients, names what needs a restart, survives a broken file', async () => {
  const dir = tempDir();
  const cfg = join(dir.path, 'fg.yaml');
  const [one, two] = await Promise.all([hashPassword('one'), hashPassword('two')]);
  const yaml = (hash: string, extra = '') =>
    `gateway:\n  data_dir: ${join(dir.path, 'data')}\nlog:\n  format: json\n  level: info\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n${extra}http:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nauth:\n  users:\n    - username: alice\n      password_hash: '${hash}'\n`;
  writeFileSync(cfg, yaml(one));
  const gw = spawnFieldgate(['start', '--config', cfg], { env: { NOTIFY_SOCKET: '', JOURNAL_STREAM: '' } });
  try {
    const [url] = await started(gw);
    const mqttUrl = url!.replace('tcp://', 'mqtt://');
    const alice = await connect(mqttUrl, { username: 'alice', password: 'one' });

    writeFileSync(cfg, yaml(two, '  max_queued_messages: 50\n').replace('level: info', 'level: debug'));
    gw.kill('SIGHUP');
    await until(() => gw.output.stdout.includes('SIGHUP: reloaded'), 'the reload line');
    const line = JSON.parse(gw.output.stdout.split('\n').find((l) => l.includes('SIGHUP: reloaded'))!) as { applied: string[]; restart: string[]; msg: string };
    assert.ok(line.applied.includes('auth.users') && line.applied.includes('log.level'), line.msg);
    assert.deepEqual(line.restart, ['broker.max_queued_messages'], line.msg);

    // The connected client was not dropped; the new password applies to new connections.
    await alice.publishAsync('still/here', 'x', { qos: 1 });
    assert.equal((await connectError(mqttUrl, { username: 'alice', password: 'one' })).code, 4);
    await endClient(await connect(mqttUrl, { username: 'alice', password: 'two' }));

    writeFileSync(cfg, 'broker: [\n');
    gw.kill('SIGHUP');
    await until(() => gw.output.stdout.includes('is invalid, nothing changed'), 'the refused reload');
    await endClient(await connect(mqttUrl, { username: 'alice', password: 'two' }));
    await endClient(alice);

    gw.kill('SIGTERM');
    const run = await finished(gw);
    assert.equal(run.code, 0, run.stderr);
  } finally {
    gw.kill('SIGKILL');
    dir.remove();
  }
});

test('a SIGHUP while the config is being loaded neither kills the gateway nor goes unsaid', async () => {
  const dir = tempDir();
  const cfg = join(dir.path, 'fg.yaml');
  // The password hash comes from a FIFO: loading the config blocks on it, so the test knows the
  // gateway is inside config loading (the FIFO's reader is open) when it sends the signal.
  const fifo = join(dir.path, 'hash');
  execFileSync('mkfifo', [fifo]);
  writeFileSync(cfg, `gateway:\n  data_dir: ${join(dir.path, 'data')}\nlog:\n  format: json\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nauth:\n  users:\n    - username: alice\n      password_hash: '\${file:${fifo}}'\n`);
  const gw = spawnFieldgate(['start', '--config', cfg], { env: { NOTIFY_SOCKET: '', JOURNAL_STREAM: '' } });
  try {
    const writer = await open(fifo, 'w'); // resolves once the gateway opened it for reading
    gw.kill('SIGHUP');
    // The reload that SIGHUP may trigger reads the path again: let it find a plain file there.
    const hash = await hashPassword('one');
    rmSync(fifo);
    writeFileSync(fifo, hash);
    await writer.writeFile(hash);
    await writer.close();
    const [url] = await started(gw);
    // The read blocks the thread, so the signal is handled after it, by whichever handler is in place.
    await until(() => gw.output.stderr.includes('SIGHUP while starting') || gw.output.stdout.includes('SIGHUP: '), 'a line about the SIGHUP');
    await endClient(await connect(url!.replace('tcp://', 'mqtt://'), { username: 'alice', password: 'one' }));
    gw.kill('SIGTERM');
    const run = await finished(gw);
    assert.equal(run.code, 0, run.stderr);
  } finally {
    gw.kill('SIGKILL');
    dir.remove();
  }
});
