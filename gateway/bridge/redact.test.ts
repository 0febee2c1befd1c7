import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import type { Broker } from '../broker/broker.ts';
import { Ingress } from '../core/ingress.ts';
import { createLogger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { tempDir, until } from '../test/helpers.ts';
import { Bridge } from './bridge.ts';
import { bridgeSchema } from './config.ts';
import { redactUrl } from './redact.ts';

test('redactUrl hides user info and query', () => {
  assert.equal(redactUrl('mqtt://alice:pw@host:1883'), 'mqtt://[redacted]@host:1883');
  assert.equal(redactUrl('mqtts://TOKEN@host'), 'mqtts://[redacted]@host');
  assert.equal(redactUrl('wss://host/mqtt?token=abc&x=1'), 'wss://host/mqtt?[redacted]');
  assert.equal(redactUrl('mqtt://host:1883'), 'mqtt://host:1883');
});

/** A server that answers every CONNECT with CONNACK `code`, and (for 0) drops the link soon after. */
function fakeServer(code: number): Promise<{ server: Server; port: number }> {
  const server = createServer((s) => {
    s.on('error', () => {});
    s.once('data', () => {
      s.write(Buffer.from([0x20, 0x02, 0x00, code]));
      if (code === 0) setTimeout(() => s.destroy(), 50);
      else s.end();
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as { port: number }).port })));
}

test('no configured secret ever appears in the log, through connect errors, refusals and lost links', async () => {
  const dir = tempDir('fieldgate-redact-');
  let out = '';
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out += chunk.toString();
      cb();
    },
  });
  const refusing = await fakeServer(4);
  const dropping = await fakeServer(0);
  // Port 1: nothing listens there, so the refusal is certain; a port freed by freePort() can be
  // taken by a parallel test's broker, which would accept the connection.
  const closed = 1;
  const secrets = ['Pw-Secret-1', 'Tok-Secret-2', 'Tok-Secret-3', 'Cfg-Secret-4', 'Lost-Secret-5'];
  const backoff = { initial: '20ms', max: '50ms' };
  const cfg = bridgeSchema.parse({
    upstreams: [
      { name: 'refused', servers: [`mqtt://alice:${secrets[0]}@127.0.0.1:${closed}`], backoff },
      { name: 'badauth', servers: [`mqtt://${secrets[1]}@127.0.0.1:${refusing.port}`], backoff },
      { name: 'query', servers: [`ws://127.0.0.1:${closed}/mqtt?token=${secrets[2]}`], backoff, username: 'bob', password: secrets[3] },
      { name: 'lost', servers: [`mqtt://carol:${secrets[4]}@127.0.0.1:${dropping.port}`], backoff },
    ],
  });
  const bridge = new Bridge(cfg, { gatewayId: 'gw', dataDir: dir.path, broker: {} as Broker, ingress: new Ingress(), metrics: new Metrics(), log: createLogger({ level: 'trace', format: 'json', destination: dest }) });
  let stopped = false;
  try {
    await bridge.start();
    await until(() => {
      const e = bridge.lastErrors();
      return !!e.refused && !!e.badauth && !!e.query && out.includes('connection lost');
    }, 'every upstream to fail once and the dropping one to be lost');
    const health = JSON.stringify(bridge.health()) + JSON.stringify(bridge.lastErrors());
    await bridge.stop();
    stopped = true;
    assert.match(out, /bridge started/);
    assert.match(out, /bad username or password/);
    for (const s of secrets) {
      assert.equal(out.includes(s), false, `secret ${s} leaked into the log`);
      assert.equal(health.includes(s), false, `secret ${s} leaked into health`);
    }
    assert.match(out, /mqtt:\/\/\[redacted\]@127\.0\.0\.1/);
  } finally {
    // A failed wait must not leave the bridge reconnecting forever: the test file would never exit.
    if (!stopped) await bridge.stop();
    refusing.server.close();
    dropping.server.close();
    dir.remove();
  }
});
