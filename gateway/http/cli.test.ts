import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { freePort } from '../bridge/test/mosquitto.ts';
import { fieldgate } from '../test/cli.ts';
import { connect, tempDir, until } from '../test/helpers.ts';
import { startApiGateway } from './test/support.ts';

// `fieldgate apikey | status | trace` against a running gateway, found through its config file.

describe('fieldgate apikey, status, trace', () => {
  test('keys made by the CLI work at once and stop working when deleted; status and trace talk to the running gateway', async () => {
    const g = await startApiGateway({ gateway: { id: 'cli-gw' } });
    const dir = tempDir();
    try {
      const cfg = join(dir.path, 'fieldgate.yaml');
      writeFileSync(cfg, `gateway:\n  id: cli-gw\n  data_dir: ${g.dataDir}\nhttp:\n  host: 127.0.0.1\n  port: ${g.httpPort}\n`);
      const created = await fieldgate(['apikey', 'create', 'ops-test', '--config', cfg]);
      assert.equal(created.code, 0, created.stderr);
      const key = /key:\s+(\S+)/.exec(created.stdout)?.[1];
      const secret = /secret:\s+(\S+)/.exec(created.stdout)?.[1];
      assert.ok(key && secret, created.stdout);
      const auth = { authorization: `Basic ${Buffer.from(`${key}:${secret}`).toString('base64')}` };
      const publish = () => fetch(`${g.api}/api/v5/publish`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'cli/x', payload: '1' }) });
      assert.equal((await publish()).status, 202, 'a key created while the gateway runs works at once');

      const c = await connect(g.url, { clientId: 'cli-client' });
      const [list, status] = await Promise.all([fieldgate(['apikey', 'list', '--config', cfg]), fieldgate(['status', '--config', cfg])]);
      assert.match(list.stdout, new RegExp(`ops-test\\s+${key}`));
      assert.doesNotMatch(list.stdout, new RegExp(secret), 'the list never shows a secret');
      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^fieldgate \d+\.\d+\.\d+ on cli-gw, up \d+/);
      assert.match(status.stdout, /clients: 1 MQTT connected/);
      assert.match(status.stdout, /bridge: no upstreams/);
      assert.match(status.stdout, /components:\n {2}http {5}running {3}0 restarts\n/);

      // trace start is a write: the CLI authenticates with the token the gateway left in its data dir.
      const start = await fieldgate(['trace', 'start', '--clientid', 'cli-client', '--name', 'clitrace', '--duration', '5m', '--config', cfg]);
      assert.equal(start.code, 0, start.stderr);
      assert.match(start.stdout, /trace clitrace started: clientid cli-client/);
      await c.publishAsync('cli/traced', 'payload-1', { qos: 1 });
      await until(async () => (await fieldgate(['trace', 'log', 'clitrace', '--config', cfg])).stdout.includes('Topic=cli/traced'), 'the publish in the trace log', 30_000);
      const stop = await fieldgate(['trace', 'stop', 'clitrace', '--config', cfg]);
      assert.equal(stop.code, 0, stop.stderr);
      const traces = await fieldgate(['trace', 'list', '--config', cfg]);
      assert.match(traces.stdout, /clitrace\s+clientid\s+cli-client\s+stopped/);

      assert.equal((await fieldgate(['apikey', 'delete', 'ops-test', '--config', cfg])).code, 0);
      assert.equal((await publish()).status, 401, 'a deleted key stops working');
      await c.endAsync();

      const down = join(dir.path, 'down.yaml');
      writeFileSync(down, `gateway:\n  data_dir: ${join(dir.path, 'none')}\nhttp:\n  port: ${await freePort()}\n`);
      const refused = await fieldgate(['status', '--config', down]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /cannot reach the gateway's HTTP API at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is fieldgate running/);
    } finally {
      await g.stop();
      dir.remove();
    }
  });
});
