import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join, resolve } from 'node:path';
import { after, describe, test } from 'node:test';
import { fieldgate } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { DataDirLock } from '../lifecycle/data-lock.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { clockFinding } from './clock.ts';
import { installHint, nodeVersionFinding } from './node-version.ts';
import { doctor } from './run.ts';
import { wantedPorts } from './ports.ts';
import { configuredDevices } from './serial.ts';
import { parseSystemctlShow, parseUnitFiles, portHeldBy, readInstalledUnit, socketInodes, type ServiceInfo } from './service.ts';
import type { Finding } from './types.ts';

const REPO = resolve(import.meta.dirname, '../..');

/** What systemctl show says about the shipped unit while it runs as `pid`, with `over` changed. */
function service(pid: number | undefined, over: Partial<ServiceInfo> = {}): ServiceInfo {
  return {
    source: 'systemctl', active: pid !== undefined, mainPid: pid, readWritePaths: ['/var/lib/fieldgate'], protectSystem: 'strict', protectHome: 'yes',
    privateTmp: false, devicePolicy: 'closed', deviceAllow: ['char-ttyUSB', 'char-ttyACM', 'char-ttyAMA', 'char-ttyS'].map((spec) => ({ spec, access: 'rw' })), ...over,
  };
}

/** A child process (not this one) that holds a TCP listener and a UDP socket; resolves their ports. */
async function socketHolder(children: ChildProcess[]): Promise<{ pid: number; tcp: number; udp: number }> {
  const script = "const net=require('net'),dgram=require('dgram');const s=net.createServer().listen(0,'127.0.0.1',()=>{const u=dgram.createSocket('udp4');u.bind(0,'127.0.0.1',()=>console.log(JSON.stringify({tcp:s.address().port,udp:u.address().port})))})";
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  await until(() => out.includes('\n'), 'the socket holder');
  return { pid: child.pid!, ...(JSON.parse(out) as { tcp: number; udp: number }) };
}

// `fieldgate doctor` through the real CLI: each failure class it must report, with a fix, and the
// exit code that tells an installer or a person whether the gateway can start.

interface Report {
  findings: Finding[];
}

describe('fieldgate doctor', () => {
  const dir = tempDir('fieldgate-doctor-');
  const servers: Server[] = [];
  const children: ChildProcess[] = [];
  after(() => {
    for (const s of servers) s.close();
    for (const c of children) c.kill();
    dir.remove();
  });
  let n = 0;
  const config = (body: string) => {
    const f = join(dir.path, `c${n++}.yaml`);
    writeFileSync(f, body);
    return f;
  };
  const base = (dataDir: string, port = 0, extra = '') => testConfigYaml(dataDir, { port, extra });
  const run = async (args: string[]) => {
    const r = await fieldgate(['doctor', '--json', ...args]);
    return { code: r.code, report: JSON.parse(r.stdout) as Report, raw: r };
  };
  const of = (rep: Report, check: string) => rep.findings.filter((f) => f.check === check);

  test('a healthy setup passes: exit 0, every check present, no failure', async () => {
    const { code, report, raw } = await run(['--config', config(base(join(dir.path, 'ok-data')))]);
    assert.equal(code, 0, raw.stdout + raw.stderr);
    for (const c of ['config', 'ports', 'data-dir', 'disk', 'serial-addon', 'serial', 'clock', 'upstream', 'node']) assert.ok(of(report, c).length, `no ${c} line`);
    assert.deepEqual(report.findings.filter((f) => f.status === 'fail'), []);
  });

  test('an occupied port fails, names the listener and says how to find the holder', async () => {
    const holder = createServer();
    servers.push(holder);
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    const { code, report } = await run(['--config', config(base(join(dir.path, 'd1'), port))]);
    assert.equal(code, 1);
    const [f] = of(report, 'ports');
    assert.equal(f!.status, 'fail');
    assert.match(f!.message, new RegExp(`TCP 127\\.0\\.0\\.1:${port} \\(broker\\.listeners\\.tcp\\) is already in use`));
    assert.match(f!.fix!, /ss -ltnp 'sport = :\d+'.*broker\.listeners\.tcp\.port/);
  });

  test('an adapter\'s datagram port in use is found in its config section and checked as UDP', async () => {
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    try {
      const extra = `  coap:\n    enabled: true\n    host: 127.0.0.1\n    port: ${port}\n    ipv6:\n      enabled: false\n`;
      // testConfigYaml turns every adapter off; the later `coap:` key overrides that one.
      const yaml = testConfigYaml(join(dir.path, 'd5')).replace(/  coap:\n    enabled: false\n/, extra);
      const { code, report } = await run(['--config', config(yaml)]);
      assert.equal(code, 1);
      const f = of(report, 'ports').find((x) => x.message.includes('adapters.coap'));
      assert.equal(f?.status, 'fail', JSON.stringify(report.findings));
      assert.match(f!.message, new RegExp(`UDP 127\\.0\\.0\\.1:${port} \\(adapters\\.coap\\) is already in use`));
      // -l: an unconnected UDP socket is only listed with it (ss -unp prints nothing).
      assert.match(f!.fix!, /ss -lunp 'sport = :\d+'/);
    } finally {
      sock.close();
    }
  });

  test('an unwritable data directory fails with the fix', async () => {
    // Root can write anywhere, so "unwritable" here is a path that is a file, not a directory;
    // as an ordinary user a read-only directory is checked too.
    const file = join(dir.path, 'not-a-dir');
    writeFileSync(file, 'x');
    let { code, report } = await run(['--config', config(base(file))]);
    assert.equal(code, 1);
    let [f] = of(report, 'data-dir');
    assert.equal(f!.status, 'fail');
    assert.match(f!.message, /not-a-dir exists but is not a directory/);
    assert.ok(f!.fix);
    ({ code, report } = await run(['--config', config(base(join(file, 'data')))]));
    [f] = of(report, 'data-dir');
    assert.equal(f!.status, 'fail');
    assert.match(f!.message, /is a file, not a directory/);
    if (process.getuid?.() !== 0) {
      const ro = join(dir.path, 'read-only');
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      ({ code, report } = await run(['--config', config(base(ro))]));
      [f] = of(report, 'data-dir');
      assert.equal(f!.status, 'fail');
      assert.match(f!.message, /is not writable \(EACCES\)/);
      assert.match(f!.fix!, /chown/);
      chmodSync(ro, 0o700);
    }
  });

  test('a missing serial device fails; one named in an adapter section is found; a present one opens', async (t) => {
    const cfg = config(base(join(dir.path, 'd2')));
    const { code, report } = await run(['--config', cfg, '--device', '/dev/fieldgate-lora']);
    assert.equal(code, 1);
    const [f] = of(report, 'serial');
    assert.equal(f!.status, 'fail');
    assert.match(f!.message, /\/dev\/fieldgate-lora \(--device\) does not exist/);
    assert.match(f!.fix!, /udev rule/);
    assert.equal(of(report, 'serial-addon')[0]!.status, 'ok');

    const skip = missingTool('socat', 'socat');
    if (skip) return t.skip(skip);
    const link = join(dir.path, 'tty-modem');
    const socat = spawn('socat', [`pty,raw,echo=0,link=${link}`, `pty,raw,echo=0,link=${link}-peer`], { stdio: 'ignore' });
    children.push(socat);
    await until(() => existsSync(link) && existsSync(`${link}-peer`), 'socat pseudo-terminals');
    const ok = await run(['--config', cfg, '--device', link]);
    const [dev] = of(ok.report, 'serial');
    assert.equal(dev!.status, 'ok', JSON.stringify(dev));
    assert.ok(dev!.message.includes(`-> ${readlinkSync(link)} opens`), dev!.message);
    assert.equal(ok.code, 0);
  });

  test('an invalid config fails the config line and points at fieldgate check', async () => {
    const { code, report } = await run(['--config', config('broker:\n  colour: blue\n')]);
    assert.equal(code, 1);
    const [f] = of(report, 'config');
    assert.equal(f!.status, 'fail');
    assert.match(f!.message, /broker\.colour: unknown key/);
    assert.match(f!.fix!, /fieldgate check --config/);
    assert.ok(of(report, 'node').length, 'checks that need no config still run');
  });

  test('an unreachable upstream warns (the bridge buffers) but does not fail', async () => {
    // A port this test keeps bound (no other process can take it meanwhile) whose server resets
    // every connection before TLS: the handshake fails the same way every time.
    const resetting = createServer((s) => s.resetAndDestroy());
    servers.push(resetting);
    await new Promise<void>((r) => resetting.listen(0, '127.0.0.1', () => r()));
    const port = (resetting.address() as AddressInfo).port;
    const extra = `bridge:\n  upstreams:\n    - name: cloud\n      servers: ['mqtts://127.0.0.1:${port}']\n`;
    const { code, report } = await run(['--config', config(base(join(dir.path, 'd3'), 0, extra))]);
    const [f] = of(report, 'upstream');
    assert.equal(f!.status, 'warn', JSON.stringify(f));
    assert.match(f!.message, new RegExp(`cloud mqtts://127\\.0\\.0\\.1:${port}: ECONNRESET`));
    assert.match(f!.fix!, /TLS port/);
    assert.equal(code, 0);
  });

  test('socket inodes: a port is matched to the process that holds it through /proc', async () => {
    const h = await socketHolder(children);
    assert.ok(socketInodes('tcp', h.tcp).size >= 1, 'the listener is in /proc/net/tcp');
    assert.ok(socketInodes('udp', h.udp).size >= 1, 'the UDP socket is in /proc/net/udp');
    assert.equal(portHeldBy(h.pid, 'tcp', h.tcp), true);
    assert.equal(portHeldBy(h.pid, 'udp', h.udp), true);
    assert.equal(portHeldBy(process.pid, 'tcp', h.tcp), false, 'this process does not hold it');
    assert.equal(portHeldBy(h.pid, 'udp', h.tcp), false, 'TCP and UDP ports are told apart');
    assert.equal(portHeldBy(2 ** 22 + 1, 'tcp', h.tcp), undefined, 'no such process: cannot tell');
  });

  test('a port held by the running fieldgate service is ok; held by another process while it runs, it still fails', async () => {
    const h = await socketHolder(children);
    const file = config(base(join(dir.path, 'd6'), h.tcp));
    const portLine = async (svc: ServiceInfo | null) => (await doctor({ file, service: svc })).filter((f) => f.check === 'ports');
    let [f] = await portLine(service(h.pid));
    assert.equal(f!.status, 'ok', JSON.stringify(f));
    assert.match(f!.message, new RegExp(`TCP 127\\.0\\.0\\.1:${h.tcp} \\(broker\\.listeners\\.tcp\\) is held by the running fieldgate \\(PID ${h.pid}\\) \\(ok\\)`));
    [f] = await portLine(service(process.pid));
    assert.equal(f!.status, 'fail', 'the service runs but someone else holds the port');
    assert.match(f!.message, /is already in use/);
    [f] = await portLine(null);
    assert.equal(f!.status, 'fail');
    [f] = await portLine(service(undefined));
    assert.equal(f!.status, 'fail', 'installed but not running: the holder is someone else');
  });

  test('a development gateway (fieldgate start / npm start, no service) holding the data directory: its ports are its own', async () => {
    // This process plays the running gateway: it holds the data-directory lock and the port.
    const data = join(dir.path, 'd-dev');
    const lock = await DataDirLock.acquire(data, { config: 'dev.yaml' });
    const holder = createServer();
    servers.push(holder);
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    try {
      const findings = await doctor({ file: config(base(data, port)), service: null });
      const running = findings.find((f) => f.check === 'running');
      assert.match(running?.message ?? '', new RegExp(`a fieldgate \\(PID ${process.pid}, config dev\\.yaml\\) is running`));
      const [f] = findings.filter((x) => x.check === 'ports');
      assert.equal(f?.status, 'ok', JSON.stringify(f));
      assert.match(f?.message ?? '', new RegExp(`:${port} \\(broker\\.listeners\\.tcp\\) is held by the running fieldgate \\(PID ${process.pid}\\)`));
    } finally {
      await lock.release();
    }
    // Without the lock holder the same port is a conflict again.
    const [f] = (await doctor({ file: config(base(data, port)), service: null })).filter((x) => x.check === 'ports');
    assert.equal(f?.status, 'fail');
  });

  test('the Node.js install hint names this machine\'s tarball', () => {
    assert.match(installHint('x64'), /linux-x64 tarball/);
    assert.doesNotMatch(installHint('x64'), /arm64/);
    assert.match(installHint('arm64'), /linux-arm64 tarball/);
    assert.match(installHint('arm'), /linux-armv7l tarball/);
  });

  test('a serial device held by the running fieldgate service is ok, without doctor opening it', async (t) => {
    const skip = missingTool('socat', 'socat');
    if (skip) return t.skip(skip);
    const link = join(dir.path, 'tty-held');
    const socat = spawn('socat', [`pty,raw,echo=0,link=${link}`, `pty,raw,echo=0,link=${link}-peer`], { stdio: 'ignore' });
    children.push(socat);
    await until(() => existsSync(link) && existsSync(`${link}-peer`), 'socat pseudo-terminals');
    // The "gateway": opens and locks the port with serialport, as an adapter does.
    const holder = spawn(process.execPath, ['--input-type=module', '-e', `import { SerialPort } from 'serialport'; const p = new SerialPort({ path: ${JSON.stringify(link)}, baudRate: 9600 }); p.on('open', () => console.log('open')); p.on('data', () => {}); setInterval(() => {}, 60_000); p.on('error', (e) => { console.error(e.message); process.exit(1); });`], { cwd: REPO, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(holder);
    let out = '';
    holder.stdout!.on('data', (d) => (out += d));
    await until(() => out.includes('open'), 'the serial port holder');
    const file = config(base(join(dir.path, 'd7')));
    const serialLine = async (svc: ServiceInfo | null) => (await doctor({ file, devices: [link], service: svc })).find((f) => f.check === 'serial')!;
    let f = await serialLine(service(holder.pid));
    assert.equal(f.status, 'ok', JSON.stringify(f));
    assert.match(f.message, new RegExp(`-> ${readlinkSync(link)} is held by the running fieldgate \\(PID ${holder.pid}\\) \\(ok\\)`));
    f = await serialLine(null);
    assert.equal(f.status, 'fail', 'not the service: a locked port is a conflict');
    assert.match(f.message, /cannot open/);
  });

  test('the unit sandbox: a data directory outside ReadWritePaths and a device major DeviceAllow lacks warn', async () => {
    const data = join(dir.path, 'd8');
    const file = config(base(data));
    const sandbox = async (svc: ServiceInfo, devices: string[] = []) => (await doctor({ file, devices, service: svc })).filter((f) => f.check === 'sandbox');
    let [f] = await sandbox(service(undefined));
    assert.equal(f!.status, 'warn', JSON.stringify(f));
    assert.match(f!.message, new RegExp(`data directory ${data} is outside the unit's ReadWritePaths \\(/var/lib/fieldgate\\): ProtectSystem=strict`));
    assert.match(f!.fix!, new RegExp(`ReadWritePaths=${data}`));
    [f] = await sandbox(service(undefined, { readWritePaths: ['/var/lib/fieldgate', dir.path] }));
    assert.equal(f!.status, 'ok', JSON.stringify(f));
    [f] = await sandbox(service(undefined, { readWritePaths: [], privateTmp: true, protectSystem: 'strict' }));
    if (data.startsWith('/tmp/')) assert.match(f!.message, /private \/tmp \(PrivateTmp=yes\)/);

    // /dev/null stands in for a modem: a character device whose driver (mem) the unit does not allow.
    const devLine = async (svc: ServiceInfo) => (await sandbox(svc, ['/dev/null'])).find((x) => x.message.startsWith('/dev/null'))!;
    f = await devLine(service(undefined));
    assert.equal(f.status, 'warn', JSON.stringify(f));
    assert.match(f.message, /\/dev\/null \(--device\), character major 1 \(mem\) is not in the unit's DeviceAllow \(char-ttyUSB rw, .*; DevicePolicy=closed\)/);
    assert.match(f.fix!, /DeviceAllow=char-mem rw/);
    assert.equal((await devLine(service(undefined, { deviceAllow: [{ spec: 'char-m*', access: 'rw' }] }))).status, 'ok');
    assert.match((await devLine(service(undefined, { deviceAllow: [{ spec: '/dev/null', access: 'rw' }] }))).message, /allowed by the unit's DeviceAllow=\/dev\/null rw/);
    assert.equal((await devLine(service(undefined, { deviceAllow: [{ spec: 'char-mem', access: 'r' }] }))).status, 'warn', 'read-only access is not enough');
    assert.equal((await sandbox(service(undefined, { devicePolicy: 'auto', deviceAllow: [] }), ['/dev/null'])).filter((x) => x.message.startsWith('/dev/null')).length, 0, 'no device restriction: nothing to say');
    assert.deepEqual(await sandbox(null as unknown as ServiceInfo), [], 'no unit installed: no sandbox lines');
  });

  test('the unit\'s sandbox settings from systemctl show, or from the unit files and drop-ins', () => {
    const shown = parseSystemctlShow([
      'LoadState=loaded', 'ActiveState=active', 'MainPID=4242', 'FragmentPath=/etc/systemd/system/fieldgate.service',
      'ReadWritePaths=/var/lib/fieldgate -/mnt/ssd/fieldgate', 'StateDirectory=fieldgate', 'ProtectSystem=strict', 'ProtectHome=yes', 'PrivateTmp=yes',
      'DevicePolicy=closed', 'DeviceAllow=char-ttyUSB rw', 'DeviceAllow=char-ttyACM rw', '',
    ].join('\n'))!;
    assert.deepEqual([shown.active, shown.mainPid, shown.readWritePaths, shown.deviceAllow.map((d) => d.spec)], [true, 4242, ['/var/lib/fieldgate', '/mnt/ssd/fieldgate'], ['char-ttyUSB', 'char-ttyACM']]);
    assert.equal(parseSystemctlShow('LoadState=not-found\nActiveState=inactive\nMainPID=0\n'), undefined, 'not installed');
    assert.equal(parseSystemctlShow('LoadState=loaded\nActiveState=inactive\nMainPID=0\n')!.mainPid, undefined);

    const unit = readFileSync(join(REPO, 'deploy/raspi/fieldgate.service'), 'utf8');
    const shipped = parseUnitFiles([unit, readFileSync(join(REPO, 'deploy/raspi/ble.conf'), 'utf8')]);
    assert.deepEqual(shipped.readWritePaths, ['/var/lib/fieldgate']);
    assert.deepEqual([shipped.protectSystem, shipped.privateTmp, shipped.devicePolicy], ['strict', true, 'closed']);
    assert.deepEqual(shipped.deviceAllow.map((d) => `${d.spec} ${d.access}`), ['char-ttyUSB rw', 'char-ttyACM rw', 'char-ttyAMA rw', 'char-ttyS rw']);
    const edited = parseUnitFiles([unit, '[Service]\nReadWritePaths=/mnt/ssd/fieldgate\nDeviceAllow=\nDeviceAllow=/dev/ttyAMA0 rw\n']);
    assert.deepEqual(edited.readWritePaths, ['/var/lib/fieldgate', '/mnt/ssd/fieldgate']);
    assert.deepEqual(edited.deviceAllow, [{ spec: '/dev/ttyAMA0', access: 'rw' }], 'an empty DeviceAllow= resets the list');

    const root = join(dir.path, 'unit-root');
    assert.equal(readInstalledUnit(root), undefined);
    mkdirSync(join(root, 'etc/systemd/system/fieldgate.service.d'), { recursive: true });
    writeFileSync(join(root, 'etc/systemd/system/fieldgate.service'), unit);
    writeFileSync(join(root, 'etc/systemd/system/fieldgate.service.d/override.conf'), '[Service]\nReadWritePaths=/srv/fieldgate\n');
    const installed = readInstalledUnit(root)!;
    assert.equal(installed.source, 'unit-file');
    assert.equal(installed.unitFile, '/etc/systemd/system/fieldgate.service');
    assert.deepEqual(installed.readWritePaths, ['/var/lib/fieldgate', '/srv/fieldgate']);
    assert.equal(installed.active, false);
  });

  test('human output: one line per check, each problem with its fix, and a summary', async () => {
    const r = await fieldgate(['doctor', '--config', config(base(join(dir.path, 'd4'))), '--device', '/dev/nope']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0]!, /^fieldgate doctor \d+\.\d+\.\d+, node v\d+/);
    assert.match(r.stdout, /^FAIL  serial +\/dev\/nope \(--device\) does not exist  -> fix: /m);
    assert.match(lines.at(-1)!, /^doctor: 1 failed, \d+ warnings?, \d+ ok$/);
    const help = await fieldgate(['doctor', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: fieldgate doctor/);
  });

  test('clock and Node.js version rules', () => {
    assert.equal(clockFinding(Date.parse('1970-01-01T00:01:00Z'), true).status, 'warn');
    assert.match(clockFinding(Date.parse('1970-01-01T00:01:00Z'), true).message, /TLS to the cloud will fail/);
    assert.equal(clockFinding(Date.parse('2030-01-01T00:00:00Z'), false).status, 'warn');
    assert.equal(clockFinding(Date.parse('2030-01-01T00:00:00Z'), true).status, 'ok');
    assert.equal(nodeVersionFinding('v18.19.0', new Date('2026-06-01')).status, 'fail');
    assert.equal(nodeVersionFinding('v20.20.0', new Date('2026-06-01')).status, 'warn');
    assert.equal(nodeVersionFinding('v22.23.3', new Date('2026-06-01')).status, 'ok');
    assert.equal(nodeVersionFinding('v23.1.0', new Date('2026-06-01')).status, 'warn');
  });
});

test('doctor checks a modem path outside /dev (the simulators\' /tmp/fieldgate-nb0) as a serial device', () => {
  const modems = [{ name: 'nb0', type: 'bc95', path: '/tmp/fieldgate-nb0' }, { name: 'lora0', type: 'rak3172', path: '/dev/ttyUSB0' }];
  assert.deepEqual(configuredDevices({ modem: { enabled: true, modems }, coap: { enabled: true, path: '/tmp/not-a-port' } }), [
    { path: '/tmp/fieldgate-nb0', where: 'adapters.modem.modems[0].path' },
    { path: '/dev/ttyUSB0', where: 'adapters.modem.modems[1].path' },
  ]);
  assert.deepEqual(configuredDevices({ modem: { enabled: false, modems } }), []);
});

test('doctor checks the HTTP API port (http.port) with the broker listeners, unless http is off', () => {
  const listeners = { tcp: { enabled: true, host: '0.0.0.0', port: 1883 } };
  assert.deepEqual(wantedPorts({ broker: { listeners }, http: { enabled: true, host: '0.0.0.0', port: 18083 }, adapters: {} }), [
    { where: 'broker.listeners.tcp', transport: 'tcp', host: '0.0.0.0', port: 1883 },
    { where: 'http', transport: 'tcp', host: '0.0.0.0', port: 18083 },
  ]);
  assert.equal(wantedPorts({ broker: { listeners }, http: { enabled: false, host: '0.0.0.0', port: 18083 }, adapters: {} }).length, 1);
});
