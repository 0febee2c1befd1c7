import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { collect, connect, endClient, tempDir, until } from '../gateway/test/helpers.ts';
import { started } from '../gateway/test/cli.ts';
import { missingTool } from '../gateway/test/tools.ts';
import { testConfigYaml } from './config.ts';
import { exited, spawnCaptured, unpackedRelease } from './release.ts';

// The release bundle on arm64, on this x86 machine: the linux-arm64 tarball is run by an arm64
// Node.js under qemu user-mode emulation. It must start, serve MQTT, stop cleanly on SIGTERM, and
// load the serialport and Bluetooth HCI addons it ships for linux-arm64 (and open a serial device).

const RUNTIME_SCRIPT = fileURLToPath(new URL('./arm64-runtime.sh', import.meta.url));
const QEMU = 'qemu-aarch64-static';

/**
 * The arm64 Node.js and sysroot, as prepared (and cached) by `bash hw-test/arm64-runtime.sh` in a
 * setup step (.ci/run runs it before npm test); a one-line skip reason if they are not there.
 * Only --check runs here: loading this file never downloads anything.
 */
function arm64Runtime(): { node: string; sysroot: string } | string {
  const r = spawnSync('bash', [RUNTIME_SCRIPT, '--check'], { encoding: 'utf8', timeout: 30_000 });
  const vars = Object.fromEntries((r.stdout ?? '').split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  if (r.status === 0 && vars.FIELDGATE_ARM64_NODE && vars.FIELDGATE_ARM64_SYSROOT) return { node: vars.FIELDGATE_ARM64_NODE, sysroot: vars.FIELDGATE_ARM64_SYSROOT };
  const why = (r.stderr || r.error?.message || '').trim().split('\n').at(-1)?.replace(/^arm64-runtime: /, '') ?? '';
  const reason = `arm64 runtime ${why || `check exited ${r.status}`}`;
  if (process.env.FIELDGATE_REQUIRE_TOOLS === '1') throw new Error(`${reason} (FIELDGATE_REQUIRE_TOOLS=1 forbids skipping)`);
  return reason;
}

const skip = missingTool(QEMU, 'qemu-user-static');
const runtime = skip ? undefined : arm64Runtime();

describe('arm64 release under qemu user-mode', { skip: skip ?? (typeof runtime === 'string' ? runtime : false) }, () => {
  const dir = tempDir('fieldgate-arm64-');
  // One build and unpack for every test here.
  let unpacked: ReturnType<typeof unpackedRelease> | undefined;
  const release = () => (unpacked ??= unpackedRelease(dir.path, 'arm64'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    dir.remove();
  });
  const rt = runtime as { node: string; sysroot: string };
  const arm64 = (args: string[]) => spawnCaptured(QEMU, [rt.node, ...args], { QEMU_LD_PREFIX: rt.sysroot, NOTIFY_SOCKET: '', FIELDGATE_CONFIG: '' });

  test('starts, serves MQTT, loads the linux-arm64 serialport addon, stops on SIGTERM', { timeout: 90_000 }, async () => {
    const { tree } = await release();
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const config = join(dir.path, 'fieldgate.yaml');
    writeFileSync(config, testConfigYaml(join(dir.path, 'data')));

    // The gateway itself: started under emulation, driven from this (x86) process over TCP.
    const gw = arm64([bundle, 'start', '--config', config]);
    children.push(gw);
    const [url] = await started(gw, 60_000);
    const c = await connect(url!.replace('tcp://', 'mqtt://'));
    await c.subscribeAsync('arm64/#', { qos: 1 });
    const got = collect(c, 1);
    await c.publishAsync('arm64/smoke', 'hello from x86', { qos: 1 });
    assert.deepEqual(await got, [{ topic: 'arm64/smoke', payload: 'hello from x86' }]);

    // doctor under emulation loads serialport: the addon mapped must be the linux-arm64 prebuild
    // shipped in the tarball (never a compile). With socat, it also opens a pseudo-terminal.
    const devices: string[] = [];
    let socat: ChildProcess | undefined;
    if (!missingTool('socat', 'socat')) {
      const link = join(dir.path, 'modem');
      socat = spawn('socat', ['-d', '-d', `pty,raw,echo=0,link=${link}`, `pty,raw,echo=0,link=${link}-peer`], { stdio: 'ignore' });
      children.push(socat);
      await until(() => existsSync(link) && existsSync(`${link}-peer`), 'socat pseudo-terminals');
      devices.push('--device', link);
    }
    const doc = await exited(arm64([bundle, 'doctor', '--config', config, '--json', ...devices]));
    const findings = (JSON.parse(doc.stdout) as { findings: { check: string; status: string; message: string }[] }).findings;
    const addon = findings.find((f) => f.check === 'serial-addon');
    assert.equal(addon?.status, 'ok', doc.stdout + doc.stderr);
    assert.match(addon!.message, /linux-arm64/);
    assert.match(addon!.message, /lib\/native\/serialport\/prebuilds\/linux-arm64\/@serialport\+bindings-cpp\.armv8\.glibc\.node/);
    if (socat) {
      const dev = findings.find((f) => f.check === 'serial');
      assert.equal(dev?.status, 'ok', JSON.stringify(dev));
      assert.match(dev!.message, new RegExp(`-> ${readlinkSync(join(dir.path, 'modem')).replace(/\//g, '\\/')} opens`));
      socat.kill();
    }

    const closed = new Promise<void>((r) => c.once('close', () => r()));
    gw.kill('SIGTERM');
    const run = await exited(gw);
    await closed;
    await endClient(c).catch(() => {});
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /"msg":"stopped"/);
  });

  test('Node.js 22: the compile cache in $CACHE_DIRECTORY is on disk once the gateway is ready; one that cannot be written is no failure', { timeout: 120_000 }, async () => {
    // The unit's CacheDirectory= (deploy/raspi/fieldgate.service) through the bundle's entry
    // (gateway/lifecycle/compile-cache.ts). Killed rather than stopped: a Pi is unplugged, not shut
    // down, and Node.js alone would write the cache only at a clean exit.
    const { tree } = await release();
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const config = join(dir.path, 'cache.yaml');
    writeFileSync(config, testConfigYaml(join(dir.path, 'cache-data')));
    const cache = join(dir.path, 'var-cache');
    mkdirSync(cache);
    const env = { QEMU_LD_PREFIX: rt.sysroot, NOTIFY_SOCKET: '', FIELDGATE_CONFIG: '' };
    const files = () => (existsSync(join(cache, 'node-compile-cache')) ? readdirSync(join(cache, 'node-compile-cache'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length : 0);
    const gw = spawnCaptured(QEMU, [rt.node, bundle, 'start', '--config', config], { ...env, CACHE_DIRECTORY: cache });
    children.push(gw);
    await started(gw, 60_000);
    await until(() => files() >= 10, 'the compile cache of the entry and its chunks on disk');
    gw.kill('SIGKILL');
    await exited(gw);

    const unwritable = join(dir.path, 'not-a-dir');
    writeFileSync(unwritable, '');
    const run = await exited(spawnCaptured(QEMU, [rt.node, bundle, 'version'], { ...env, CACHE_DIRECTORY: join(unwritable, 'cache') }));
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^fieldgate \d/);
  });

  test('BLE on arm64: doctor loads the linux-arm64 HCI addon prebuild shipped in the tarball (no compiler)', { timeout: 90_000 }, async () => {
    // noble's HCI socket, @stoprocent/bluetooth-hci-socket, publishes N-API prebuilds; deploy/build.ts
    // ships them under lib/native/bluetooth-hci-socket. The mapped file must be that one.
    const { tree } = await release();
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const config = join(dir.path, 'ble.yaml');
    writeFileSync(config, testConfigYaml(join(dir.path, 'ble-data')).replace(/\n {2}ble:\n {4}enabled: false\n/, '\n  ble:\n    enabled: true\n'));
    const doc = await exited(arm64([bundle, 'doctor', '--config', config, '--json']));
    const findings = (JSON.parse(doc.stdout) as { findings: { check: string; status: string; message: string; fix?: string }[] }).findings;
    const addon = findings.find((f) => f.check === 'ble-addon');
    assert.equal(addon?.status, 'ok', doc.stdout + doc.stderr);
    assert.match(addon!.message, /loads for linux-arm64 Node\.js 22\./);
    assert.match(addon!.message, /lib\/native\/bluetooth-hci-socket\/prebuilds\/linux-arm64\/@stoprocent\+bluetooth-hci-socket\.armv8\.node\)$/);
  });
});
