import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { builtinAdapters } from '../app/adapters.ts';
import { fieldgate } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { clockFinding } from './clock.ts';
import { nodeVersionFinding } from './node-version.ts';
import type { Finding } from './types.ts';

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
    assert.equal(f.status, 'fail');
    assert.match(f.message, new RegExp(`TCP 127\\.0\\.0\\.1:${port} \\(broker\\.listeners\\.tcp\\) is already in use`));
    assert.match(f.fix!, /ss -lnpt 'sport = :\d+'.*broker\.listeners\.tcp\.port/);
  });

  test('an adapter\'s datagram port in use is found in its config section and checked as UDP', async (t) => {
    if (!builtinAdapters.some((a) => a.name === 'coap')) return t.skip('no CoAP adapter registered');
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
      assert.match(f!.fix!, /ss -unpt/);
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
    assert.equal(f.status, 'fail');
    assert.match(f.message, /not-a-dir exists but is not a directory/);
    assert.ok(f.fix);
    ({ code, report } = await run(['--config', config(base(join(file, 'data')))]));
    [f] = of(report, 'data-dir');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /is a file, not a directory/);
    if (process.getuid?.() !== 0) {
      const ro = join(dir.path, 'read-only');
      mkdirSync(ro);
      chmodSync(ro, 0o500);
      ({ code, report } = await run(['--config', config(base(ro))]));
      [f] = of(report, 'data-dir');
      assert.equal(f.status, 'fail');
      assert.match(f.message, /is not writable \(EACCES\)/);
      assert.match(f.fix!, /chown/);
      chmodSync(ro, 0o700);
    }
  });

  test('a missing serial device fails; one named in an adapter section is found; a present one opens', async (t) => {
    const cfg = config(base(join(dir.path, 'd2')));
    const { code, report } = await run(['--config', cfg, '--device', '/dev/fieldgate-lora']);
    assert.equal(code, 1);
    const [f] = of(report, 'serial');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /\/dev\/fieldgate-lora \(--device\) does not exist/);
    assert.match(f.fix!, /udev rule/);
    assert.equal(of(report, 'serial-addon')[0].status, 'ok');

    const skip = missingTool('socat', 'socat');
    if (skip) return t.skip(skip);
    const link = join(dir.path, 'tty-modem');
    const socat = spawn('socat', [`pty,raw,echo=0,link=${link}`, `pty,raw,echo=0,link=${link}-peer`], { stdio: 'ignore' });
    children.push(socat);
    await until(() => existsSync(link) && existsSync(`${link}-peer`), 'socat pseudo-terminals');
    const ok = await run(['--config', cfg, '--device', link]);
    const [dev] = of(ok.report, 'serial');
    assert.equal(dev.status, 'ok', JSON.stringify(dev));
    assert.ok(dev.message.includes(`-> ${readlinkSync(link)} opens`), dev.message);
    assert.equal(ok.code, 0);
  });

  test('an invalid config fails the config line and points at fieldgate check', async () => {
    const { code, report } = await run(['--config', config('broker:\n  colour: blue\n')]);
    assert.equal(code, 1);
    const [f] = of(report, 'config');
    assert.equal(f.status, 'fail');
    assert.match(f.message, /broker\.colour: unknown key/);
    assert.match(f.fix!, /fieldgate check --config/);
    assert.ok(of(report, 'node').length, 'checks that need no config still run');
  });

  test('an unreachable upstream warns (the bridge buffers) but does not fail', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', () => r()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const extra = `bridge:\n  upstreams:\n    - name: cloud\n      servers: ['mqtts://127.0.0.1:${port}']\n`;
    const { code, report } = await run(['--config', config(base(join(dir.path, 'd3'), 0, extra))]);
    const [f] = of(report, 'upstream');
    assert.equal(f.status, 'warn', JSON.stringify(f));
    assert.match(f.message, /cloud mqtts:\/\/127\.0\.0\.1:\d+: ECONNREFUSED/);
    assert.equal(code, 0);
  });

  test('human output: one line per check, each problem with its fix, and a summary', async () => {
    const r = await fieldgate(['doctor', '--config', config(base(join(dir.path, 'd4'))), '--device', '/dev/nope']);
    assert.equal(r.code, 1);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^fieldgate doctor \d+\.\d+\.\d+, node v\d+/);
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
