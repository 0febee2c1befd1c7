import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { collect, connect, connectError, endClient, startGateway, tempDir } from './helpers.ts';
import { missingTool } from './tools.ts';

function makeCerts(dir: string): void {
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=fieldgate test CA']);
  for (const name of ['server', 'client']) {
    run(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name === 'server' ? 'localhost' : 'device-1'}`]);
    const ext = join(dir, `${name}.ext`);
    writeFileSync(ext, name === 'server' ? 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' : 'extendedKeyUsage=clientAuth\n');
    run(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', ext]);
  }
}


test('MQTT over mutual TLS and over WebSocket', async (t) => {
  const skip = missingTool('openssl', 'openssl');
  if (skip) return t.skip(skip);
  const dir = tempDir();
  makeCerts(dir.path);
  const f = (n: string) => join(dir.path, n);
  const g = await startGateway({
    broker: {
      listeners: {
        tls: { enabled: true, host: '127.0.0.1', port: 0, cert_file: f('server.crt'), key_file: f('server.key'), ca_file: f('ca.crt'), require_client_cert: true },
        ws: { enabled: true, host: '127.0.0.1', port: 0 },
      },
    },
  });
  try {
    const { tls, ws } = g.gw.broker.ports;
    const ca = readFileSync(f('ca.crt'));
    const secure = await connect(`mqtts://localhost:${tls}`, { ca, cert: readFileSync(f('client.crt')), key: readFileSync(f('client.key')) });
    const web = await connect(`ws://127.0.0.1:${ws}/mqtt`);
    await web.subscribeAsync('x/#');
    const got = collect(web, 1);
    await secure.publishAsync('x/tls', 'over tls', { qos: 1 });
    assert.deepEqual(await got, [{ topic: 'x/tls', payload: 'over tls' }]);
    // Without a client certificate the handshake is refused.
    const refused = await connectError(`mqtts://localhost:${tls}`, { ca });
    assert.ok(refused, 'a client without a certificate must not connect');
    await Promise.all([endClient(secure), endClient(web)]);
  } finally {
    await g.stop();
    dir.remove();
  }
});
