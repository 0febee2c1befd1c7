// Nothing secret is ever logged: a gateway with the HTTP API at log level debug, driven with good
// and wrong API keys (Basic and in the URL's user info), a kick, a publish and a device password;
// not one log line holds a secret, a password or an Authorization header.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { buildSchema } from '../app/config.ts';
import { Gateway } from '../app/gateway.ts';
import { hashPassword } from '../auth/password.ts';
import { validateConfig } from '../config/load.ts';
import { createLogger } from '../log/logger.ts';
import { connect, connectError, tempDir } from '../test/helpers.ts';
import { ApiKeyStore } from './apikeys.ts';

test('no log line holds an API secret, a password or an Authorization header, at log level debug', async () => {
  const dir = tempDir();
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter((l) => l.trim()));
      cb();
    },
  });
  const doc = {
    gateway: { data_dir: dir.path },
    broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
    log: { level: 'debug' },
    http: { enabled: true, host: '127.0.0.1', port: 0, auth_failure_rate: '2/m' },
    auth: { users: [{ username: 'alice', password_hash: await hashPassword('pw-alice-9f3k') }] },
  };
  const gw = new Gateway({ config: validateConfig(buildSchema([]), doc, 'test'), adapters: [], log: createLogger({ level: 'debug', format: 'json', destination: sink }) });
  await gw.start();
  try {
    const api = gw.services.get('http/api')!.url;
    const key = new ApiKeyStore(dir.path).create('ops');
    const basic = (k: string, s: string) => `Basic ${Buffer.from(`${k}:${s}`).toString('base64')}`;
    const wrongSecret = 'wrong-secret-7c1d';
    await fetch(`${api}/api/v5/publish`, { method: 'POST', headers: { authorization: basic(key.key, key.secret), 'content-type': 'application/json' }, body: JSON.stringify({ topic: 'a/b', payload: 'x' }) });
    const port = new URL(api).port;
    await fetch(`http://${key.key}:${key.secret}@127.0.0.1:${port}/api/v5/clients/nobody`, { method: 'DELETE' }).catch(() => {});
    const mq = await connect(`mqtt://127.0.0.1:${gw.broker.ports.tcp}`, { clientId: 'kicked-one', username: 'alice', password: 'pw-alice-9f3k' });
    assert.equal((await fetch(`${api}/api/v5/clients/kicked-one`, { method: 'DELETE', headers: { authorization: basic(key.key, key.secret) } })).status, 204);
    await connectError(`mqtt://127.0.0.1:${gw.broker.ports.tcp}`, { clientId: 'bad', username: 'alice', password: 'pw-wrong-2b8e' });
    await mq.endAsync(true);
    // Wrong keys last: past auth_failure_rate the address gets 429 whatever it sends.
    for (let i = 0; i < 4; i++) await fetch(`${api}/api/v5/clients`, { method: 'DELETE', headers: { authorization: basic(key.key, wrongSecret) } });
    assert.ok(lines.some((l) => /kicked/.test(l)), 'the log was captured');
    const secrets = [key.secret, wrongSecret, 'pw-alice-9f3k', 'pw-wrong-2b8e', basic(key.key, key.secret).slice(6), basic(key.key, wrongSecret).slice(6)];
    const leaks = lines.filter((l) => secrets.some((s) => l.includes(s)) || /authorization/i.test(l));
    assert.deepEqual(leaks, []);
  } finally {
    await gw.stop();
    dir.remove();
  }
});
