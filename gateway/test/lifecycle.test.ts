import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { verifyPassword } from '../auth/password.ts';
import { collect, connect, endClient, tempDir } from './helpers.ts';
import { fieldgate, finished, spawnFieldgate, started } from './cli.ts';
import { testConfigYaml } from '../../hw-test/config.ts';

describe('fieldgate process lifecycle and CLI', () => {
  const dir = tempDir();
  const cfg = (name: string, body: string) => {
    const f = join(dir.path, name);
    writeFileSync(f, body);
    return f;
  };
  before(() => {});
  after(() => dir.remove());

  test('start, serve MQTT, SIGTERM: clean exit 0', async () => {
    // Adapters off: their default ports (CoAP 5683) are fixed, and tests never bind fixed ports.
    const file = cfg('ok.yaml', testConfigYaml(join(dir.path, 'data')));
    const child = spawnFieldgate(['start', '--config', file]);
    const [url] = await started(child);
    const c = await connect(url!.replace('tcp://', 'mqtt://'));
    await c.subscribeAsync('t');
    const got = collect(c, 1);
    await c.publishAsync('t', 'hello', { qos: 1 });
    assert.equal((await got)[0]!.payload, 'hello');
    const closed = new Promise<void>((r) => c.once('close', () => r()));
    child.kill('SIGTERM');
    const run = await finished(child);
    await closed;
    c.end(true);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /"msg":"stopped"/);
  });

  test('a port in use is one clear line naming the listener and the port, exit 1', async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    const port = (holder.address() as AddressInfo).port;
    try {
      const file = cfg('busy.yaml', `gateway:\n  data_dir: ${join(dir.path, 'data2')}\nlog:\n  format: json\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: ${port}\n`);
      const run = await fieldgate(['start', '--config', file]);
      assert.equal(run.code, 1);
      const fatal = run.stdout.split('\n').filter((l) => l.includes('cannot start'));
      assert.equal(fatal.length, 1, run.stdout);
      assert.match(fatal[0]!, new RegExp(`MQTT TCP listener on 127\\.0\\.0\\.1:${port}: address already in use.*broker\\.listeners\\.tcp\\.port`));
    } finally {
      holder.close();
    }
  });

  test('an unreadable TLS certificate names the path and the reason', async () => {
    const file = cfg('tls.yaml', `gateway:\n  data_dir: ${join(dir.path, 'data3')}\nlog:\n  format: json\nbroker:\n  listeners:\n    tcp:\n      enabled: false\n    tls:\n      enabled: true\n      host: 127.0.0.1\n      port: 0\n      cert_file: /nonexistent/server.crt\n      key_file: /nonexistent/server.key\n`);
    const run = await fieldgate(['start', '--config', file]);
    assert.equal(run.code, 1);
    // Checked before anything starts (gateway/config/files.ts), both files named.
    assert.match(run.stderr, /broker\.listeners\.tls\.cert_file \/nonexistent\/server\.crt: cannot read .*ENOENT/);
    assert.match(run.stderr, /broker\.listeners\.tls\.key_file \/nonexistent\/server\.key: cannot read .*ENOENT/);
  });

  test('invalid config: start refuses, check lists every problem; a valid one checks OK', async () => {
    const bad = cfg('bad.yaml', 'broker:\n  max_queued_messages: lots\n  colour: blue\n');
    const start = await fieldgate(['start', '--config', bad]);
    assert.equal(start.code, 1);
    assert.match(start.stderr, /refusing to start/);
    const check = await fieldgate(['check', '--config', bad]);
    assert.equal(check.code, 1);
    assert.match(check.stderr, /broker\.max_queued_messages: expected number/);
    assert.match(check.stderr, /broker\.colour: unknown key/);
    const ok = await fieldgate(['check', '--config', new URL('../../fieldgate.example.yaml', import.meta.url).pathname]);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /config OK/);
  });

  test('passwd prints a hash that verifies; devices lists the registry; --help for each command', async () => {
    const run = await fieldgate(['passwd'], { input: 's3cret\n' });
    assert.equal(run.code, 0, run.stderr);
    assert.equal(await verifyPassword('s3cret', run.stdout.trim()), true);
    const data = join(dir.path, 'data4');
    const file = cfg('dev.yaml', `gateway:\n  data_dir: ${data}\n`);
    const { mkdirSync } = await import('node:fs');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'devices.json'), JSON.stringify({ version: 1, devices: [
      { protocol: 'coap', id: 'th-1', address: '10.0.0.9:5683', first_seen: 0, last_seen: 1000, online: false },
      { protocol: 'lora', id: '0a0b0c0d', transport: 'lora', address: 'lora0', via: 'lora0', first_seen: 0, last_seen: 1000, online: false },
      { protocol: 'nbiot', id: '10.64.2.7', transport: 'udp', address: '10.64.2.7:40000', via: 'nb0', first_seen: 0, last_seen: 1000, online: false },
    ] }));
    const list = await fieldgate(['devices', '--config', file]);
    assert.match(list.stdout, /coap\s+th-1\s+10\.0\.0\.9:5683\s+no/);
    assert.match(list.stdout, /lora\s+0a0b0c0d\s+via lora0\s+no/, 'a LoRa node is reached through its modem, it has no address of its own');
    assert.match(list.stdout, /nbiot\s+10\.64\.2\.7\s+10\.64\.2\.7:40000 via nb0\s+no/);
    const json = await fieldgate(['devices', '--config', file, '--json']);
    assert.equal(JSON.parse(json.stdout)[0].id, 'th-1');
    for (const cmd of ['start', 'check', 'passwd', 'devices', 'version']) {
      const h = await fieldgate([cmd, '--help']);
      assert.equal(h.code, 0);
      assert.match(h.stdout, new RegExp(`Usage: fieldgate ${cmd}`));
    }
    assert.match((await fieldgate(['version'])).stdout, /^fieldgate \d+\.\d+\.\d+/);
  });
});
