// The HTTP API over TLS (http.tls): a real handshake against a certificate made by openssl, the
// API key over it, and plain HTTP refused on the same port.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { request } from 'node:https';
import { request as plainRequest } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { startApiGateway } from './test/support.ts';

function get(url: string, opts: { ca?: Buffer; auth?: string }): Promise<{ status: number; body: string }> {
  const u = new URL(url);
  const send = u.protocol === 'https:' ? request : plainRequest;
  return new Promise((resolve, reject) => {
    const req = send(u, { ca: opts.ca, headers: opts.auth ? { authorization: opts.auth } : {} }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('http.tls: the API answers over HTTPS with the configured certificate; plain HTTP is refused', async (t) => {
  const skip = missingTool('openssl', 'openssl');
  if (skip) return t.skip(skip);
  const dir = tempDir();
  const f = (n: string) => join(dir.path, n);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('api.key'), '-out', f('api.crt'), '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'pipe' });
  const g = await startApiGateway({ http: { host: '127.0.0.1', tls: { enabled: true, cert_file: f('api.crt'), key_file: f('api.key') } } });
  try {
    const url = g.gw.services.get('http/api')!.url;
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const ca = readFileSync(f('api.crt'));
    // The first two requests together: the port is bound at start and the app is built by the
    // first request (listener.ts), over TLS as over plain HTTP.
    const [status, clients] = await Promise.all([get(`${url}/api/v5/status?format=json`, { ca }), get(`${url}/api/v5/clients`, { ca, auth: g.auth })]);
    assert.equal(status.status, 200);
    assert.equal(JSON.parse(status.body).broker_status, 'started');
    assert.equal(clients.status, 200, 'a request with the key over TLS');
    await assert.rejects(get(`${url}/api/v5/status`, {}), /self[- ]signed|unable to verify|certificate/i, 'a client that does not trust the certificate');
    await assert.rejects(get(`http://127.0.0.1:${g.httpPort}/api/v5/status`, {}), 'plain HTTP on the TLS port');
  } finally {
    await g.stop();
    dir.remove();
  }
});
