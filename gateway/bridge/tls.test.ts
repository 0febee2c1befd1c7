import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { connect, endClient, startGateway, tempDir, until, type TestGateway } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { explainConnectError } from './errors.ts';
import { CloudSubscriber } from './test/cloud.ts';
import { freePort, Mosquitto, MOSQUITTO } from './test/mosquitto.ts';

const skip = missingTool(MOSQUITTO, 'mosquitto') ?? missingTool('openssl', 'openssl');

describe('connect error lines', () => {
  const url = 'mqtts://broker.example:8883';
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ code: 'CERT_HAS_EXPIRED' }, 'cert_expired', /certificate has expired.*clock/],
    [{ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, 'unknown_ca', /not signed by a trusted CA.*tls\.ca_file/],
    [{ code: 'ERR_TLS_CERT_ALTNAME_INVALID', reason: "Host: x. is not in the cert's altnames" }, 'hostname_mismatch', /hostname mismatch.*servername/],
    [{ code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' }, 'tls_version', /TLS version/],
    [{ code: 'ERR_SSL_SSLV3_ALERT_HANDSHAKE_FAILURE' }, 'handshake_failed', /handshake failed/],
    [{ code: 'ERR_SSL_WRONG_VERSION_NUMBER' }, 'not_tls', /did not answer with TLS/],
    [{ code: 'ECONNREFUSED' }, 'refused', /refused/],
    [{ code: 'CONNECT_TIMEOUT' }, 'timeout', /timed out/],
    [{ code: 'ENOTFOUND', hostname: 'broker.example' }, 'dns', /DNS lookup failed for broker\.example/],
    [{ code: 4 }, 'bad_credentials', /bad username or password \(CONNACK 4\)/],
    [{ code: 134 }, 'bad_credentials', /CONNACK 0x86/],
    [{ code: 5 }, 'not_authorized', /not authorized/],
  ];
  for (const [fields, kind, line] of cases) {
    it(`${String(fields.code)} -> ${kind}`, () => {
      const ex = explainConnectError(Object.assign(new Error('x'), fields), url);
      assert.equal(ex.kind, kind);
      assert.match(ex.line, line);
      assert.ok(ex.line.startsWith(`upstream ${url}: `));
      assert.ok(!ex.line.includes('\n'), 'one line');
    });
  }
});

describe('bridge TLS against a real Mosquitto', { skip }, () => {
  let tmp: { path: string; remove(): void };
  const cleanups: (() => Promise<void> | void)[] = [];
  const f = (name: string) => join(tmp.path, name);
  const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: tmp.path, stdio: 'pipe' });

  function ca(name: string): void {
    ssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${name}`);
  }

  function cert(name: string, cn: string, issuer: string, days: number, san?: string): void {
    ssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
    const ext = f(`${name}.ext`);
    writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
    // A negative -days gives notAfter before notBefore: an already expired certificate.
    ssl('x509', '-req', '-in', `${name}.csr`, '-CA', `${issuer}.crt`, '-CAkey', `${issuer}.key`, '-CAcreateserial', '-out', `${name}.crt`, '-days', String(days), '-extfile', ext);
  }

  before(() => {
    tmp = tempDir('fieldgate-tls-');
    ca('ca');
    ca('other-ca');
    cert('server', 'localhost', 'ca', 2, 'DNS:localhost');
    cert('expired', 'localhost', 'ca', -1, 'DNS:localhost');
    cert('client', 'fieldgate', 'ca', 2);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  after(() => tmp.remove());

  /** A TLS listener requiring client certificates, plus a plain one for the test's subscriber. */
  async function tlsCloud(serverCert = 'server'): Promise<{ m: Mosquitto; plain: string }> {
    const plainPort = await freePort();
    const m = await Mosquitto.create(tmp.path, {
      listener: [`cafile ${f('ca.crt')}`, `certfile ${f(`${serverCert}.crt`)}`, `keyfile ${f(`${serverCert}.key`)}`, 'require_certificate true'],
      extra: [`listener ${plainPort} 127.0.0.1`],
    });
    await m.start();
    cleanups.push(() => m.stop());
    return { m, plain: `mqtt://127.0.0.1:${plainPort}` };
  }

  async function gateway(port: number, host: string, tls: Record<string, unknown>): Promise<TestGateway> {
    const gw = await startGateway({ bridge: { upstreams: [{ name: 'cloud', servers: [`mqtts://${host}:${port}`], tls, backoff: { initial: '100ms', max: '400ms' } }] } });
    cleanups.push(() => gw.stop());
    return gw;
  }

  const lastError = (gw: TestGateway) => gw.gw.bridge!.lastErrors().cloud;

  it('mTLS: with the CA, a client certificate and key, messages flow', async () => {
    const { m, plain } = await tlsCloud();
    const sub = await CloudSubscriber.connect(plain, 'fieldgate/+/tls/#');
    cleanups.push(() => sub.end());
    const gw = await gateway(m.port, 'localhost', { ca_file: f('ca.crt'), cert_file: f('client.crt'), key_file: f('client.key') });
    await until(() => gw.gw.bridge!.health()[0]!.connected, `TLS bridge up (last error: ${lastError(gw)})`);
    const pub = await connect(gw.url);
    cleanups.push(() => endClient(pub));
    await pub.publishAsync('tls/a', 'tls/a:1', { qos: 1 });
    const got = await sub.waitFor(1);
    assert.equal(got[0]!.payload, 'tls/a:1');
  });

  it('a wrong CA gives the unknown-CA line', async () => {
    const { m } = await tlsCloud();
    const gw = await gateway(m.port, 'localhost', { ca_file: f('other-ca.crt'), cert_file: f('client.crt'), key_file: f('client.key') });
    await until(() => lastError(gw) !== undefined, 'a connect error');
    assert.match(lastError(gw)!, /not signed by a trusted CA.*set tls\.ca_file/);
  });

  it('an expired server certificate gives the expired line', async () => {
    const { m } = await tlsCloud('expired');
    const gw = await gateway(m.port, 'localhost', { ca_file: f('ca.crt'), cert_file: f('client.crt'), key_file: f('client.key') });
    await until(() => lastError(gw) !== undefined, 'a connect error');
    assert.match(lastError(gw)!, /server certificate has expired/);
  });

  it('a host name the certificate does not list gives the hostname-mismatch line', async () => {
    const { m } = await tlsCloud();
    const gw = await gateway(m.port, '127.0.0.1', { ca_file: f('ca.crt'), cert_file: f('client.crt'), key_file: f('client.key') });
    await until(() => lastError(gw) !== undefined, 'a connect error');
    assert.match(lastError(gw)!, /hostname mismatch/);
  });

  it('no client certificate where one is required gives a rejected-certificate or reset line', async () => {
    const { m } = await tlsCloud();
    const gw = await gateway(m.port, 'localhost', { ca_file: f('ca.crt') });
    await until(() => lastError(gw) !== undefined, 'a connect error');
    assert.match(lastError(gw)!, /requires a client certificate|closed the connection during setup|handshake failed/);
  });
});
