import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { bundleFiles } from '../deploy/build.ts';
import { started } from '../gateway/test/cli.ts';
import { connect, endClient, tempDir } from '../gateway/test/helpers.ts';
import { missingTool } from '../gateway/test/tools.ts';
import { testConfigYaml } from './config.ts';
import { exited, spawnCaptured, unpackedRelease } from './release.ts';

// deploy/raspi: the installer run from the unpacked release tarball into a throwaway root
// (DESTDIR), and the systemd unit it installs checked by systemd-analyze verify.

/** Every entry under `root`: path, type, mode, and content hash or link target. */
function snapshot(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const st = lstatSync(p);
      const rel = relative(root, p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) out.push(`${rel} -> ${readlinkSync(p)}`);
      else if (st.isDirectory()) {
        out.push(`${rel}/ ${mode}`);
        walk(p);
      } else out.push(`${rel} ${mode} ${createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16)}`);
    }
  };
  walk(root);
  return out;
}

describe('deploy/raspi installer and systemd unit', () => {
  const dir = tempDir('fieldgate-deploy-');
  let tree = '';
  const root = join(dir.path, 'root');
  const installInto = (into: string, from: string, ...args: string[]) => {
    const r = spawnSync('bash', [join(from, 'install.sh'), ...args], { env: { ...process.env, DESTDIR: into }, encoding: 'utf8' });
    assert.equal(r.status, 0, `install.sh ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout;
  };
  const install = (...args: string[]) => installInto(root, tree, ...args);
  /** A copy of the release tree that says it is `version`. */
  const releaseCopy = (name: string, version: string) => {
    const copy = join(dir.path, name);
    cpSync(tree, copy, { recursive: true });
    writeFileSync(join(copy, 'VERSION'), `${version}\n`);
    return copy;
  };
  before(async () => {
    tree = (await unpackedRelease(dir.path, 'x64')).tree;
  });
  after(() => dir.remove());

  test('installs the expected files into a DESTDIR root, and a second run changes nothing', () => {
    install();
    const expected = [
      'opt/fieldgate/current -> releases/0.1.0',
      'usr/local/bin/fieldgate -> /opt/fieldgate/current/bin/fieldgate',
      'etc/systemd/system/multi-user.target.wants/fieldgate.service -> /etc/systemd/system/fieldgate.service',
    ];
    const snap = snapshot(root);
    const version = readFileSync(join(tree, 'VERSION'), 'utf8').trim();
    for (const e of expected) assert.ok(snap.includes(e.replace('0.1.0', version)), `${e} missing in:\n${snap.join('\n')}`);
    for (const f of ['etc/fieldgate/fieldgate.yaml', 'etc/fieldgate/fieldgate.example.yaml', 'etc/systemd/system/fieldgate.service', `opt/fieldgate/releases/${version}/lib/fieldgate.mjs`, `opt/fieldgate/releases/${version}/lib/native/serialport/prebuilds/linux-x64/@serialport+bindings-cpp.glibc.node`]) {
      assert.ok(existsSync(join(root, f)), `${f} not installed`);
    }
    assert.ok(snap.includes('var/lib/fieldgate/ 750'), 'data directory mode 0750');
    assert.match(snap.find((l) => l.startsWith('etc/fieldgate/fieldgate.yaml '))!, / 640 /);
    const cfg = readFileSync(join(root, 'etc/fieldgate/fieldgate.yaml'), 'utf8');
    assert.match(cfg, /data_dir: \/var\/lib\/fieldgate/);
    // The written config is valid for the gateway it ships with.
    const check = spawnSync(process.execPath, [join(root, `opt/fieldgate/releases/${version}/lib/fieldgate.mjs`), 'check', '--config', join(root, 'etc/fieldgate/fieldgate.yaml')], { encoding: 'utf8' });
    assert.equal(check.status, 0, check.stderr);
    // The bundle keeps zod's English messages only (deploy/build.ts): they must still read well.
    const badFile = join(dir.path, 'bad.yaml');
    writeFileSync(badFile, 'broker:\n  max_queued_messages: lots\n');
    const bad = spawnSync(process.execPath, [join(root, `opt/fieldgate/releases/${version}/lib/fieldgate.mjs`), 'check', '--config', badFile], { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /broker\.max_queued_messages: expected number, received string \(hint: write a bare number/);

    install();
    assert.deepEqual(snapshot(root), snap, 'a second install must leave the same tree');
  });

  test('an upgrade keeps a changed config and the data; uninstall keeps them; --purge removes them', () => {
    install();
    const cfgFile = join(root, 'etc/fieldgate/fieldgate.yaml');
    writeFileSync(cfgFile, 'gateway:\n  id: barn-pi\n  data_dir: /var/lib/fieldgate\n');
    writeFileSync(join(root, 'var/lib/fieldgate/devices.json'), '{"version":1,"devices":[]}');
    const out = install();
    assert.match(out, /kept existing \/etc\/fieldgate\/fieldgate\.yaml/);
    assert.match(readFileSync(cfgFile, 'utf8'), /barn-pi/);

    const un = spawnSync('bash', [join(tree, 'install.sh'), '--uninstall'], { env: { ...process.env, DESTDIR: root }, encoding: 'utf8' });
    assert.equal(un.status, 0, un.stderr);
    for (const gone of ['opt/fieldgate', 'usr/local/bin/fieldgate', 'etc/systemd/system/fieldgate.service', 'etc/systemd/system/multi-user.target.wants/fieldgate.service']) {
      assert.ok(!existsSync(join(root, gone)), `${gone} should be removed`);
    }
    assert.match(readFileSync(cfgFile, 'utf8'), /barn-pi/, 'uninstall keeps the config');
    assert.ok(existsSync(join(root, 'var/lib/fieldgate/devices.json')), 'uninstall keeps the data');
    assert.match(un.stdout, /kept \/etc\/fieldgate/);

    const purge = spawnSync('bash', [join(tree, 'install.sh'), '--uninstall', '--purge'], { env: { ...process.env, DESTDIR: root }, encoding: 'utf8' });
    assert.equal(purge.status, 0, purge.stderr);
    assert.ok(!existsSync(join(root, 'etc/fieldgate')) && !existsSync(join(root, 'var/lib/fieldgate')), 'purge removes config and data');
    // No user was created under DESTDIR, so the installer must not claim to remove one.
    assert.doesNotMatch(purge.stdout, /fieldgate user/);
    assert.match(purge.stdout, /no system user to remove/);
  });

  test('the installer refuses to run outside a release tree', () => {
    const bare = join(dir.path, 'bare');
    mkdirSync(bare);
    cpSync(join(tree, 'install.sh'), join(bare, 'install.sh'));
    const r = spawnSync('bash', [join(bare, 'install.sh')], { env: { ...process.env, DESTDIR: root }, encoding: 'utf8' });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /run install\.sh from an unpacked fieldgate-<version>-linux-<arch>\.tar\.gz/);
  });

  test('a version change keeps the replaced release as `previous`; re-installing the same version keeps that rollback target', () => {
    const r = join(dir.path, 'root-upgrade');
    const version = readFileSync(join(tree, 'VERSION'), 'utf8').trim();
    const next = releaseCopy('tree-next', '9.9.9-next');
    installInto(r, tree);
    assert.ok(!existsSync(join(r, 'opt/fieldgate/previous')), 'a first install has nothing to roll back to');
    installInto(r, next);
    assert.equal(readlinkSync(join(r, 'opt/fieldgate/current')), 'releases/9.9.9-next');
    assert.equal(readlinkSync(join(r, 'opt/fieldgate/previous')), `releases/${version}`);
    // The same version again (a repair, a second run): the rollback target must survive.
    installInto(r, next);
    assert.equal(readlinkSync(join(r, 'opt/fieldgate/previous')), `releases/${version}`);
    assert.ok(existsSync(join(r, `opt/fieldgate/releases/${version}/lib/fieldgate.mjs`)), 'the previous release is still there to roll back to');
    // Back onto the release `previous` named: it is current now, nothing older is kept.
    installInto(r, tree);
    assert.equal(readlinkSync(join(r, 'opt/fieldgate/previous')), 'releases/9.9.9-next');
    assert.deepEqual(readdirSync(join(r, 'opt/fieldgate/releases')).sort(), [version, '9.9.9-next'].sort());
  });

  test('a VERSION that is not a plain version is refused before anything is removed', () => {
    const r = join(dir.path, 'root-version');
    installInto(r, tree);
    const before = snapshot(r);
    for (const bad of ['..', '../../etc', 'a b', '']) {
      const copy = releaseCopy(`tree-bad-${Buffer.from(bad).toString('hex')}`, bad);
      const res = spawnSync('bash', [join(copy, 'install.sh')], { env: { ...process.env, DESTDIR: r }, encoding: 'utf8' });
      assert.notEqual(res.status, 0, `VERSION ${JSON.stringify(bad)} accepted: ${res.stdout}`);
      assert.match(res.stderr, /VERSION holds .*not a version/);
    }
    assert.deepEqual(snapshot(r), before, 'a refused install changes nothing');
  });

  test('--help prints the usage comment only', () => {
    const r = spawnSync('bash', [join(tree, 'install.sh'), '--help'], { encoding: 'utf8' });
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^fieldgate installer for Raspberry Pi OS/);
    assert.match(r.stdout, /sudo \.\/install\.sh --uninstall \[--purge\]/);
    assert.doesNotMatch(r.stdout, /set -euo pipefail|^#/m);
  });

  test('the bundle names its source map, so --enable-source-maps shows TypeScript positions', () => {
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const text = readFileSync(bundle, 'utf8');
    assert.match(text.trimEnd().split('\n').at(-1)!, /^\/\/# sourceMappingURL=fieldgate\.mjs\.map$/);
    assert.ok(existsSync(join(dirname(bundle), 'fieldgate.mjs.map')), 'the map it names ships next to it');
    // A stack taken inside the bundle (its first write to stdout) under --enable-source-maps, as
    // the docs suggest with NODE_OPTIONS, names a .ts source instead of the minified bundle.
    const probe = [
      'Error.stackTraceLimit = 50;',
      'const w = process.stdout.write;',
      "process.stdout.write = function (...a) { process.stdout.write = w; process.stderr.write(`PROBE ${new Error('probe').stack}\\n`); return w.apply(this, a); };",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(probe)}`, bundle, 'version'], { env: { ...process.env, NODE_OPTIONS: '--enable-source-maps' }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /PROBE Error: probe/);
    assert.match(r.stderr, /gateway\/[\w/.-]+\.ts:\d+:\d+/, `no TypeScript position in the stack:\n${r.stderr}`);
  });

  test('the bundle traces MQTT packets with DEBUG set (the no-op `debug` is only used without it)', async () => {
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const config = join(dir.path, 'debug.yaml');
    writeFileSync(config, testConfigYaml(join(dir.path, 'debug-data')));
    const run = async (env: NodeJS.ProcessEnv) => {
      const gw = spawnCaptured(process.execPath, [bundle, 'start', '--config', config], { NOTIFY_SOCKET: '', FIELDGATE_CONFIG: '', ...env });
      try {
        const [url] = await started(gw);
        const c = await connect(url!.replace('tcp://', 'mqtt://'));
        await c.publishAsync('debug/probe', 'x', { qos: 1 });
        await endClient(c);
      } finally {
        gw.kill('SIGTERM');
      }
      return exited(gw);
    };
    // The shim is in the bundle (its entry or a chunk) in place of every copy of `debug` (one per version bundled).
    const text = bundleFiles(dirname(bundle)).filter((f) => f.endsWith('.mjs')).map((f) => readFileSync(join(dirname(bundle), f), 'utf8')).join('\n');
    assert.ok(text.split('if(process.env.DEBUG)').length - 1 >= 1, 'the no-op debug shim is bundled');
    assert.doesNotMatch(text, /process\.type==="renderer"\|\|process\.browser===!0\|\|process\.__nwjs/, "debug's own index.js is not bundled");
    const traced = await run({ DEBUG: 'mqtt-packet:parser' });
    assert.equal(traced.code, 0, traced.stderr);
    assert.match(traced.stderr, /mqtt-packet:parser/, 'DEBUG=mqtt-packet:parser traces the parser');
    const quiet = await run({ DEBUG: '' });
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /mqtt-packet:parser/);
  });

  test('the bundle serves the HTTP API from its chunks: status page, /metrics with process metrics', async () => {
    // The HTTP API, and prom-client's process metrics within it, sit behind import() in chunks of
    // their own; a chunk for a CommonJS package must still give its named exports (deploy/build.ts).
    const bundle = join(tree, 'lib', 'fieldgate.mjs');
    const config = join(dir.path, 'http.yaml');
    writeFileSync(config, testConfigYaml(join(dir.path, 'http-data'), { http: true, extra: 'http:\n  host: 127.0.0.1\n  port: 0\n' }));
    // What fastify requires and never uses is loaded lazily (deploy/build.ts, fastify-lazy-requires):
    // the builtins the process loaded are written at exit, and semver, were it loaded, would trace
    // its regular expressions to stderr under NODE_DEBUG=semver.
    const loaded = join(dir.path, 'builtins.txt');
    const preload = join(dir.path, 'builtins.cjs');
    writeFileSync(preload, `process.on('exit', () => require('node:fs').writeFileSync(${JSON.stringify(loaded)}, process.moduleLoadList.join('\\n')));\n`);
    const gw = spawnCaptured(process.execPath, ['--require', preload, bundle, 'start', '--config', config], { NOTIFY_SOCKET: '', FIELDGATE_CONFIG: '', NODE_DEBUG: 'semver' });
    try {
      await started(gw);
      const line = gw.output.stdout.split('\n').find((l) => l.includes('fieldgate started'))!;
      const base = (JSON.parse(line) as { http: string }).http;
      const metrics = await (await fetch(`${base}/metrics`)).text();
      assert.match(metrics, /^process_cpu_user_seconds_total \d/m, 'prom-client process metrics');
      assert.match(metrics, /^fieldgate_connections \d/m);
      const page = await fetch(`${base}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<html/i, 'the status page from lib/www beside the chunks');
    } finally {
      gw.kill('SIGTERM');
    }
    const run = await exited(gw);
    assert.equal(run.code, 0, run.stderr);
    const builtins = readFileSync(loaded, 'utf8').split('\n');
    assert.ok(builtins.includes('NativeModule http'), 'the list of loaded builtins is read');
    assert.ok(!builtins.includes('NativeModule http2'), 'node:http2 is not loaded by the HTTP API');
    assert.doesNotMatch(run.stderr, /^SEMVER /m, 'semver is not loaded by the HTTP API');
  });

  test('what every start loads (the entry, the CLI and their static imports) leaves out the HTTP API and prom-client\'s index', () => {
    // The rest sits behind import(): fastify with the HTTP API (gateway/app/components.ts), and
    // prom-client's index (process metrics, cluster, Pushgateway, @opentelemetry/api) with /metrics;
    // metrics.ts gets prom-client's four classes from their own files (deploy/build.ts, prom-client-core).
    const lib = join(tree, 'lib');
    const read = (f: string) => readFileSync(join(lib, f), 'utf8');
    const entry = read('fieldgate.mjs');
    const cli = /import\("\.\/(fieldgate-main-[\w-]+\.mjs)"\)/.exec(entry)?.[1];
    assert.ok(cli, 'the entry imports the CLI chunk');
    const statics = new Set<string>();
    const queue = ['fieldgate.mjs', cli];
    while (queue.length) {
      const f = queue.pop()!;
      if (statics.has(f)) continue;
      statics.add(f);
      for (const m of read(f).matchAll(/(?:from ?|import ?)"\.\/(fieldgate-[\w-]+\.mjs)"/g)) queue.push(m[1]!);
    }
    const sources = [...statics].flatMap((f) => (JSON.parse(read(`${f}.map`)) as { sources: string[] }).sources);
    assert.ok(sources.some((s) => s.endsWith('prom-client/lib/registry.js')), `prom-client's Registry is loaded at start (${statics.size} files)`);
    for (const unwanted of ['prom-client/index.js', 'prom-client/lib/defaultMetrics.js', '@opentelemetry/api', 'node_modules/fastify/', 'gateway/http/server.ts']) {
      assert.ok(!sources.some((s) => s.includes(unwanted)), `${unwanted} is loaded by every start: ${sources.filter((s) => s.includes(unwanted)).join(', ')}`);
    }
  });

  test('a live install as root (user, groups, ownership, systemctl), isolated in a private mount namespace', (t) => {
    // Creating a user and calling systemctl cannot happen in a DESTDIR; install-live.sh runs the
    // real thing with throwaway copies of /etc, /opt, /var/lib, ... mounted over the originals.
    // CI runs as root; with FIELDGATE_REQUIRE_TOOLS=1 (gateway/test/tools.ts) not being able to
    // run it is a failure, not a skip.
    const cannot = (reason: string) => {
      if (process.env.FIELDGATE_REQUIRE_TOOLS === '1') throw new Error(`${reason} (FIELDGATE_REQUIRE_TOOLS=1 forbids skipping)`);
      t.skip(reason);
    };
    if (process.getuid?.() !== 0) return cannot('needs root (for a private mount namespace and useradd): run the suite as root, as CI does');
    const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
    if (probe.status !== 0) return cannot(`unshare --mount is not permitted here: ${probe.stderr?.toString().trim() || probe.error?.message}`);
    const work = join(dir.path, 'live');
    mkdirSync(work);
    const r = spawnSync('unshare', ['--mount', '--propagation', 'private', 'bash', fileURLToPath(new URL('./install-live.sh', import.meta.url)), tree, work], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const facts = Object.fromEntries(r.stdout.trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    assert.equal(facts.first_created_user, '1');
    assert.deepEqual(facts.groups!.split(',').sort(), ['dialout', 'fieldgate']);
    assert.equal(facts.shell, '/usr/sbin/nologin');
    assert.equal(facts.data_owner, 'fieldgate:fieldgate 750');
    assert.equal(facts.config_owner, 'root:fieldgate 640');
    assert.equal(facts.doctor, 'ok', 'doctor as the fieldgate user finds its data directory writable');
    assert.equal(facts.second_created_user, '0');
    assert.equal(facts.second_kept_config, '1');
    assert.deepEqual([facts.after_uninstall_user, facts.after_uninstall_config, facts.after_uninstall_opt], ['yes', 'yes', 'no']);
    assert.deepEqual([facts.after_purge_user, facts.after_purge_data], ['no', 'no']);
    assert.equal(facts.failed_restart_status, '1', 'a failed restart fails the install');
    assert.equal(facts.failed_restart_hint, '1', 'a failed restart still prints the journalctl/doctor hint');
    const install = 'daemon-reload;enable fieldgate\\.service;restart fieldgate\\.service;is-active --quiet fieldgate\\.service;';
    assert.match(facts.systemctl!, new RegExp(`^${install}${install}daemon-reload;enable fieldgate\\.service;restart fieldgate\\.service;disable --now fieldgate\\.service;daemon-reload;`));
    // systemctl on PATH but systemd not running (no /run/systemd/system): enabled by symlink only.
    assert.equal(facts.no_systemd_calls, '0', 'no systemctl call without a running systemd');
    assert.equal(facts.no_systemd_message, '1');
    assert.equal(facts.no_systemd_link, '/etc/systemd/system/fieldgate.service');
  });

  test('systemd-analyze verify passes on the installed unit, with and without the BLE drop-in', (t) => {
    const skip = missingTool('systemd-analyze', 'systemd');
    if (skip) return t.skip(skip);
    install();
    // verify resolves the unit's dependencies (multi-user.target, network-online.target, ...)
    // inside --root, so give the throwaway root the system's own unit files.
    for (const sys of ['/usr/lib/systemd/system', '/lib/systemd/system']) {
      if (existsSync(sys)) {
        mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
        cpSync(sys, join(root, 'usr/lib/systemd/system'), { recursive: true, dereference: false, force: true });
        break;
      }
    }
    // ExecReload runs /bin/kill, which verify looks for inside --root too (every system has it).
    if (existsSync('/bin/kill') && !existsSync(join(root, 'bin/kill'))) {
      mkdirSync(join(root, 'bin'), { recursive: true });
      cpSync(realpathSync('/bin/kill'), join(root, 'bin/kill'));
    }
    const verify = () => spawnSync('systemd-analyze', ['verify', `--root=${root}`, '/etc/systemd/system/fieldgate.service'], { encoding: 'utf8' });
    let r = verify();
    // verify exits 0 on unknown keys and bad values too, printing them: any output is a failure.
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify printed warnings');

    install('--ble');
    assert.ok(existsSync(join(root, 'etc/systemd/system/fieldgate.service.d/ble.conf')));
    r = verify();
    assert.equal(r.status, 0, r.stderr);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', 'systemd-analyze verify printed warnings for the BLE drop-in');

    const unit = readFileSync(join(root, 'etc/systemd/system/fieldgate.service'), 'utf8');
    for (const line of ['Wants=modprobe@usbserial.service modprobe@cdc_acm.service', 'After=modprobe@usbserial.service modprobe@cdc_acm.service', 'Type=notify', 'NotifyAccess=all', 'WatchdogSec=30s', 'Restart=on-failure', 'StartLimitBurst=5', 'NoNewPrivileges=yes', 'ProtectSystem=strict', 'ReadWritePaths=/var/lib/fieldgate', 'PrivateTmp=yes', 'SupplementaryGroups=dialout', 'DeviceAllow=char-ttyUSB rw', 'StandardOutput=journal', 'ExecReload=/bin/kill -HUP $MAINPID']) {
      assert.ok(unit.split('\n').includes(line), `unit lacks ${line}`);
    }
  });
});
