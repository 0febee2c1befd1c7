// `fieldgate devices` against a real `fieldgate start`: live from its HTTP API while it runs on the
// data directory, from the registry files when its API does not answer or once it has stopped.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { TcpDevice } from '../../firmware-sim/tcp/client.ts';
import { testConfigYaml } from '../../hw-test/config.ts';
import { freePort } from '../bridge/test/mosquitto.ts';
import { fieldgate, startChild, stopChild } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';

describe('fieldgate devices', () => {
  test('asks the running gateway (online, live last seen), else reads the registry files, and says which', async () => {
    const dir = tempDir();
    const data = join(dir.path, 'data');
    const httpPort = await freePort();
    const yaml = (port: number) => testConfigYaml(data, { http: true, extra: `http:\n  host: 127.0.0.1\n  port: ${port}\n` })
      .replace(/ {2}tcp:\n {4}enabled: false\n/, '  tcp:\n    enabled: true\n    host: 127.0.0.1\n    port: 0\n');
    const cfg = join(dir.path, 'fieldgate.yaml');
    writeFileSync(cfg, yaml(httpPort));
    const { child } = await startChild(cfg);
    let dev: TcpDevice | undefined;
    try {
      const api = `http://127.0.0.1:${httpPort}`;
      const gws = (await (await fetch(`${api}/api/v5/gateways`)).json()) as { name: string; listeners: { bind: string }[] }[];
      const bind = gws.find((g) => g.name === 'tcp')!.listeners[0]!.bind;
      dev = new TcpDevice({ port: Number(bind.split(':')[1]), clientid: 'pump-7', version: 2 });
      await dev.connect();
      const seen = async () => ((await (await fetch(`${api}/api/v5/devices?online=true`)).json()) as { data: { first_seen: string; last_seen: string }[] }).data[0];
      await until(async () => (await seen()) !== undefined, 'pump-7 online');
      // Heard again later: the live registry's last seen moves.
      const first = Date.parse((await seen())!.first_seen);
      await until(() => Date.now() > first, 'a later millisecond');
      dev.send('reading');
      await until(async () => Date.parse((await seen())!.last_seen) > first, 'last seen moved');

      const live = await fieldgate(['devices', '--config', cfg]);
      assert.equal(live.code, 0, live.stderr);
      assert.match(live.stderr, new RegExp(`devices from the running gateway \\(PID ${child.pid}\\) at http://127\\.0\\.0\\.1:${httpPort}`));
      assert.match(live.stdout, /tcp\s+pump-7\s+127\.0\.0\.1:\d+\s+yes/);
      const json = await fieldgate(['devices', '--config', cfg, '--json']);
      const [rec] = JSON.parse(json.stdout) as { id: string; online: boolean; first_seen: number; last_seen: number; transport: string }[];
      assert.deepEqual([rec!.id, rec!.online, rec!.transport, rec!.first_seen], ['pump-7', true, 'tcp', first]);
      assert.ok(rec!.last_seen > first, 'live last seen');

      // Same data directory, an HTTP port nothing listens on: the files, and why.
      const wrong = join(dir.path, 'wrong.yaml');
      writeFileSync(wrong, yaml(await freePort()));
      const files = await fieldgate(['devices', '--config', wrong]);
      assert.equal(files.code, 0, files.stderr);
      assert.match(files.stderr, /devices from the registry files in .*data \(the running gateway's HTTP API did not answer: cannot reach .*ECONNREFUSED/);
      assert.match(files.stdout, /tcp\s+pump-7\s+127\.0\.0\.1:\d+\s+yes/, 'connects and disconnects are journaled at once');
    } finally {
      await dev?.disconnect().catch(() => {});
      await stopChild(child, 'SIGTERM');
    }
    try {
      const after = await fieldgate(['devices', '--config', cfg]);
      assert.equal(after.code, 0, after.stderr);
      assert.match(after.stderr, /devices from the registry files in .*data \(no gateway is running on this data directory;/);
      assert.match(after.stdout, /tcp\s+pump-7\s+127\.0\.0\.1:\d+\s+no/);
    } finally {
      dir.remove();
    }
  });
});
