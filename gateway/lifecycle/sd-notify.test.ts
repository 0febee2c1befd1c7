import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { finished, spawnFieldgate, started } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { createNotifier, watchdogInterval } from './sd-notify.ts';

// sd_notify goes through the systemd-notify helper; a recording stand-in on PATH shows what the
// gateway sends and when, without a running systemd.

describe('sd_notify (systemd Type=notify)', () => {
  const dir = tempDir('fieldgate-sdnotify-');
  after(() => dir.remove());
  const log = join(dir.path, 'notify.log');
  writeFileSync(join(dir.path, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> '${log}'\n`);
  chmodSync(join(dir.path, 'systemd-notify'), 0o755);
  const config = join(dir.path, 'fieldgate.yaml');
  writeFileSync(config, testConfigYaml(join(dir.path, 'data')));
  // The control gateway runs beside the one under test: its own data directory (one gateway per
  // data directory, gateway/lifecycle/data-lock.ts).
  const controlConfig = join(dir.path, 'control.yaml');
  writeFileSync(controlConfig, testConfigYaml(join(dir.path, 'control-data')));
  const lines = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);

  test('watchdogInterval: half of WATCHDOG_USEC, only for the PID it names', () => {
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000' }, 42), 15_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '42' }, 42), 15_000);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: '30000000', WATCHDOG_PID: '7' }, 42), undefined);
    assert.equal(watchdogInterval({}, 42), undefined);
    assert.equal(watchdogInterval({ WATCHDOG_USEC: 'soon' }, 42), undefined);
  });

  test('READY=1 after the listeners are up, WATCHDOG=1 at half the interval, STOPPING=1 on SIGTERM', async () => {
    const child = spawnFieldgate(['start', '--config', config], { env: { PATH: `${dir.path}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/test/notify', WATCHDOG_USEC: '200000' } });
    await started(child);
    await until(() => lines().filter((l) => l.includes('WATCHDOG=1')).length >= 2, 'two watchdog pings');
    const ready = lines()[0];
    assert.match(ready!, new RegExp(`^/run/test/notify --pid=${child.pid} READY=1 STATUS=serving MQTT \\(tcp:\\d+\\)$`));
    child.kill('SIGTERM');
    const run = await finished(child);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const all = lines();
    assert.match(all.at(-1)!, /STOPPING=1 STATUS=stopping on SIGTERM$/);
    assert.ok(all.every((l) => l.includes(`--pid=${child.pid}`)), all.join('\n'));
  });

  /**
   * A gateway started after `others` with the same WATCHDOG_USEC and a working helper: once it has
   * pinged twice, each of `others` (started earlier) has had at least as long to ping. Waiting on
   * its pings replaces a guessed sleep, so "nothing happened" is checked after enough happened.
   */
  async function afterTwoControlPings(usec: string) {
    const control = spawnFieldgate(['start', '--config', controlConfig], { env: { PATH: `${dir.path}:${process.env.PATH}`, NOTIFY_SOCKET: '/run/test/control', WATCHDOG_USEC: usec } });
    await started(control);
    const controlPings = () => lines().filter((l) => l.startsWith(`/run/test/control --pid=${control.pid} WATCHDOG=1`)).length;
    await until(() => controlPings() >= 2, 'two watchdog pings from the control gateway');
    control.kill('SIGTERM');
    assert.equal((await finished(control)).code, 0);
  }

  test('a no-op without NOTIFY_SOCKET (not under systemd)', async () => {
    writeFileSync(log, '');
    const child = spawnFieldgate(['start', '--config', config], { env: { PATH: `${dir.path}:${process.env.PATH}`, NOTIFY_SOCKET: '', WATCHDOG_USEC: '200000' } });
    await started(child);
    await afterTwoControlPings('200000');
    child.kill('SIGTERM');
    assert.equal((await finished(child)).code, 0);
    assert.deepEqual(lines().filter((l) => l.includes(`--pid=${child.pid} `)), [], 'the gateway without NOTIFY_SOCKET sent nothing');
  });

  test('a missing systemd-notify is one warning, and the gateway runs on', async () => {
    const child = spawnFieldgate(['start', '--config', config], { env: { PATH: '/nonexistent', NOTIFY_SOCKET: '/run/test/notify', WATCHDOG_USEC: '200000' } });
    await started(child);
    await until(() => child.output.stdout.includes('systemd-notify not found'), 'the missing-helper warning');
    // READY=1 failed; the watchdog pings that follow fail the same way and must not warn again.
    await afterTwoControlPings('200000');
    child.kill('SIGTERM');
    const run = await finished(child);
    assert.equal(run.code, 0, run.stderr);
    const warnings = run.stdout.split('\n').filter((l) => l.includes('systemd-notify not found'));
    assert.equal(warnings.length, 1, run.stdout);
  });

  test('the notifier: each failure kind is reported once however many pings fail; nothing without NOTIFY_SOCKET', async () => {
    const errors: string[] = [];
    const sent: string[] = [];
    const n = createNotifier({
      env: { NOTIFY_SOCKET: '/run/test/notify', WATCHDOG_USEC: '20000' },
      command: join(dir.path, 'no-such-helper'),
      onError: (m) => errors.push(m),
      onSent: (a) => sent.push(a.join(' ')),
    });
    assert.equal(n.enabled, true);
    await n.ready('up');
    n.startWatchdog();
    await until(() => sent.filter((s) => s === 'WATCHDOG=1').length >= 3, 'three (failed) watchdog pings');
    n.close();
    assert.equal(sent[0], 'READY=1 STATUS=up');
    assert.equal(errors.length, 1, errors.join('\n'));
    assert.match(errors[0]!, /no-such-helper not found/);

    const off = createNotifier({ env: { WATCHDOG_USEC: '20000' }, command: join(dir.path, 'systemd-notify'), onSent: (a) => sent.push(a.join(' ')) });
    assert.equal(off.enabled, false);
  });
});
