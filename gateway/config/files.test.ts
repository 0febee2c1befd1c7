import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { builtinAdapters } from '../app/adapters.ts';
import { buildSchema } from '../app/config.ts';
import { doctor } from '../doctor/run.ts';
import { fieldgate } from '../test/cli.ts';
import { tempDir } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { checkConfigFiles } from './files.ts';
import { validateConfig } from './load.ts';

// Files the config names are loaded before anything starts: `check`, `doctor` and `start` name
// the option and the path of a missing file, a file that is not a certificate or key, a key that
// is not the certificate's, and an expired certificate.

describe('files the config names', () => {
  const skip = missingTool('openssl', 'openssl');
  const dir = tempDir();
  const f = (n: string) => join(dir.path, n);
  if (!skip) {
    const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir.path, stdio: 'pipe' });
    for (const n of ['a', 'b']) run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', `${n}.key`, '-out', `${n}.crt`, '-days', '2', '-subj', `/CN=${n}`]);
    writeFileSync(f('junk.crt'), 'not a certificate\n');
  }
  const schema = buildSchema(builtinAdapters);
  const tls = (cert: string, key: string, more: Record<string, unknown> = {}) =>
    validateConfig(schema, { broker: { listeners: { tls: { enabled: true, cert_file: cert, key_file: key, ...more } } } }, 't');

  test('a matching pair and a CA: ok, one finding per file', { skip }, () => {
    const found = checkConfigFiles(tls(f('a.crt'), f('a.key'), { ca_file: f('b.crt') }));
    // Valid for 2 days: usable, with a warning to renew it (under 30 days left).
    assert.deepEqual(found.map((x) => [x.path, x.status]), [
      ['broker.listeners.tls.cert_file', 'warn'], ['broker.listeners.tls.key_file', 'ok'], ['broker.listeners.tls.ca_file', 'ok'],
    ]);
    assert.match(found[0]?.message ?? '', /CN=a\), ?expires on .* in [12] days?|CN=a\) expires on .*, in [12] days?/);
  });

  test('missing, not a certificate, wrong key, expired: each names the option and the path', { skip }, () => {
    const missing = checkConfigFiles(tls(f('none.crt'), f('a.key')));
    assert.deepEqual(missing.filter((x) => x.status === 'error').map((x) => [x.path, x.file]), [['broker.listeners.tls.cert_file', f('none.crt')]]);
    assert.match(missing[0]?.message ?? '', /ENOENT/);
    const junk = checkConfigFiles(tls(f('junk.crt'), f('a.key'))).find((x) => x.status === 'error');
    assert.equal(junk?.path, 'broker.listeners.tls.cert_file');
    assert.match(junk?.message ?? '', /junk\.crt is not a certificate/);
    const wrong = checkConfigFiles(tls(f('a.crt'), f('b.key'))).find((x) => x.status === 'error');
    assert.equal(wrong?.path, 'broker.listeners.tls.key_file');
    assert.match(wrong?.message ?? '', /b\.key is not the private key of .*a\.crt/);
    const later = Date.now() + 10 * 86_400_000; // the certificates are valid for 2 days
    const expired = checkConfigFiles(tls(f('a.crt'), f('a.key')), later).find((x) => x.status === 'error');
    assert.match(expired?.message ?? '', /expired on/);
    // Switched off: not checked.
    assert.deepEqual(checkConfigFiles(validateConfig(schema, { broker: { listeners: { tls: { enabled: false, cert_file: f('none.crt'), key_file: f('none.key') } } } }, 't')), []);
  });

  test('fieldgate check and doctor refuse a missing cert_file, naming option and path', { skip }, async () => {
    const cfg = f('fg.yaml');
    writeFileSync(cfg, `gateway:\n  data_dir: ${f('data')}\nbroker:\n  listeners:\n    tcp:\n      port: 0\n    tls:\n      enabled: true\n      port: 0\n      cert_file: ${f('none.crt')}\n      key_file: ${f('a.key')}\n`);
    const check = await fieldgate(['check', '--config', cfg]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr, new RegExp(`broker\\.listeners\\.tls\\.cert_file ${f('none.crt').replace(/[/.]/g, '\\$&')}: cannot read .*ENOENT`));
    const findings = await doctor({ file: cfg, service: null, timeoutMs: 1000 });
    const bad = findings.find((x) => x.check === 'files' && x.status === 'fail');
    assert.match(bad?.message ?? '', /broker\.listeners\.tls\.cert_file .*none\.crt: cannot read/);
    const start = await fieldgate(['start', '--config', cfg], { env: { NOTIFY_SOCKET: '' } });
    assert.equal(start.code, 1);
    assert.match(start.stderr, /cert_file .*none\.crt.*\n.*refusing to start/);
  });

  test('decoder scripts and the LwM2M definitions directory: missing, wrong kind and fine, each naming option and path', async () => {
    const { mkdirSync } = await import('node:fs');
    mkdirSync(f('xml'), { recursive: true });
    writeFileSync(f('dec.js'), 'module.exports = () => ({});\n');
    const doc = (xml: string, ble: string, script: string) => validateConfig(schema, {
      adapters: {
        lwm2m: { enabled: true, xml_dir: xml },
        ble: { enabled: true, user_decoders: [{ name: 'mine', file: ble, manufacturer_id: 0x59 }] },
        modem: { enabled: true, modems: [{ name: 'm1', type: 'rak3172', path: '/dev/ttyX', frames: 'fieldgate', nodes: [{ id: '0000abcd', key: '00'.repeat(16), decoder: { script } }] }] },
      },
    }, 't');
    const bad = checkConfigFiles(doc(f('none'), f('none.js'), f('xml'))).filter((x) => x.status === 'error');
    assert.deepEqual(bad.map((x) => [x.path, x.file]), [
      ['adapters.lwm2m.xml_dir', f('none')],
      ['adapters.ble.user_decoders[0].file', f('none.js')],
      ['adapters.modem.modems[0].nodes[0].decoder.script', f('xml')],
    ]);
    assert.match(bad[0]!.message, /cannot read .*none \(ENOENT\)/);
    assert.match(bad[2]!.message, /xml is not a file/);
    assert.match(checkConfigFiles(doc(f('dec.js'), f('dec.js'), f('dec.js')))[0]!.message, /dec\.js is not a directory/);
    const good = checkConfigFiles(doc(f('xml'), f('dec.js'), f('dec.js')));
    assert.deepEqual(good.map((x) => x.status), ['ok', 'ok', 'ok']);
    // `fieldgate check` refuses it with the option and the path, as for a certificate.
    const cfg = f('scripts.yaml');
    writeFileSync(cfg, `gateway:\n  data_dir: ${f('data')}\nadapters:\n  lwm2m:\n    enabled: true\n    xml_dir: ${f('none')}\n`);
    const check = await fieldgate(['check', '--config', cfg]);
    assert.equal(check.code, 1, check.stdout + check.stderr);
    assert.match(check.stderr, new RegExp(`adapters\\.lwm2m\\.xml_dir ${f('none').replace(/[/.]/g, '\\$&')}: cannot read .*ENOENT`));
  });

  test('cleanup', () => dir.remove());
});
