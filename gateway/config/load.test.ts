import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { builtinAdapters } from '../app/adapters.ts';
import { buildSchema } from '../app/config.ts';
import { tempDir } from '../test/helpers.ts';
import { ConfigError, loadConfig, validateConfig } from './load.ts';
import { parseDuration, parseSize } from './duration.ts';

const schema = buildSchema([]);

function problems(fn: () => unknown): ConfigError['problems'] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

test('no file: the embedded defaults', () => {
  const cfg = loadConfig(schema, undefined);
  assert.equal(cfg.broker.listeners.tcp.port, 1883);
  assert.equal(cfg.broker.max_queued_messages, 1000);
  assert.equal(cfg.auth.allow_anonymous, 'loopback');
  assert.equal(cfg.auth.acl_nomatch, 'deny');
  assert.equal(cfg.sys.interval, 60_000);
});

test('every problem is reported with its path and a hint', () => {
  const p = problems(() =>
    validateConfig(schema, { broker: { listeners: { tcp: { port: '1883', prot: 1 } } }, bogus: true, gateway: { shutdown_timeout: 'soon' } }, 'x.yaml'),
  );
  const byPath = Object.fromEntries(p.map((x) => [x.path, x]));
  assert.match(byPath['broker.listeners.tcp.port']!.message, /expected number/);
  assert.match(byPath['broker.listeners.tcp.port']!.hint!, /without quotes/);
  assert.equal(byPath['broker.listeners.tcp.prot']!.message, 'unknown key');
  assert.match(byPath['broker.listeners.tcp.prot']!.hint!, /enabled, host, port/);
  assert.equal(byPath.bogus!.message, 'unknown key');
  assert.match(byPath.bogus!.hint!, /use one of: gateway, log, broker, auth/);
  assert.match(byPath['gateway.shutdown_timeout']!.message, /not a duration/);
  assert.equal(p.length, 4);
});

test('an unknown key inside a list item is named with the keys that item accepts', () => {
  const p = problems(() => validateConfig(schema, { auth: { users: [{ username: 'a', password_hash: 'x', pasword: 'y' }] } }, 'x.yaml'));
  const typo = p.find((x) => x.path === 'auth.users[0].pasword');
  assert.equal(typo?.message, 'unknown key');
  assert.match(typo.hint!, /username, password_hash/);
});

test('missing file and YAML syntax errors are config errors, never a silent fallback', () => {
  const dir = tempDir();
  try {
    const missing = problems(() => loadConfig(schema, join(dir.path, 'nope.yaml')));
    assert.match(missing[0]!.message, /ENOENT/);
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, 'broker:\n  listeners: [\n');
    assert.match(problems(() => loadConfig(schema, bad))[0]!.message, /YAML syntax error/);
    const list = join(dir.path, 'list.yaml');
    writeFileSync(list, '- a\n- b\n');
    assert.match(problems(() => loadConfig(schema, list))[0]!.message, /mapping/);
  } finally {
    dir.remove();
  }
});

test('secrets from environment variables and files', () => {
  const dir = tempDir();
  try {
    const secret = join(dir.path, 'hash');
    writeFileSync(secret, '$scrypt$N=16384,r=8,p=1$c2FsdA==$aGFzaA==\n');
    const cfg = validateConfig(schema, { gateway: { id: '${env:GW_ID}' }, auth: { users: [{ username: 'u', password_hash: `\${file:${secret}}` }] } }, 't', { GW_ID: 'pi-7' });
    assert.equal(cfg.gateway.id, 'pi-7');
    assert.equal(cfg.auth.users[0]!.password_hash, '$scrypt$N=16384,r=8,p=1$c2FsdA==$aGFzaA==');
    const p = problems(() => validateConfig(schema, { gateway: { id: '${env:NOT_SET_ANYWHERE}' } }, 't', {}));
    assert.match(p[0]!.message, /NOT_SET_ANYWHERE is not set/);
  } finally {
    dir.remove();
  }
});

test('the commented example config in the repository is valid', () => {
  const cfg = loadConfig(buildSchema(builtinAdapters), new URL('../../fieldgate.example.yaml', import.meta.url).pathname);
  assert.equal(cfg.broker.listeners.tcp.port, 1883);
});

test('durations and sizes', () => {
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('30s'), 30_000);
  assert.equal(parseDuration('1.5m'), 90_000);
  assert.equal(parseDuration('x'), undefined);
  // A bare number has no unit: refused (0 excepted), with the two readings as the fix.
  assert.equal(parseDuration(30), undefined);
  assert.equal(parseDuration(0), 0);
  const p = problems(() => validateConfig(schema, { sys: { interval: 30 }, gateway: { shutdown_timeout: 0 } }, 'x.yaml'));
  assert.equal(p.length, 1);
  assert.equal(p[0]?.path, 'sys.interval');
  assert.match(p[0]?.message ?? '', /30 has no unit; write "30s" for seconds or "30ms" for milliseconds/);
  assert.equal(parseSize('256MB'), 256 * 1024 * 1024);
  assert.equal(parseSize('64kb'), 65536);
  assert.equal(parseSize(-1), undefined);
});

test('check gaps: yes for a boolean, qos 2, a placeholder hash, a YAML error positioned once', () => {
  const full = buildSchema(builtinAdapters);
  const p = problems(() =>
    validateConfig(full, {
      broker: { listeners: { ws: { enabled: 'yes' } } },
      bridge: { upstreams: [{ name: 'c', servers: ['mqtt://127.0.0.1:1'], forward: [{ local: 'a/#', qos: 2 }] }] },
      auth: { users: [{ username: 'u', password_hash: '$scrypt$N=16384,r=8,p=1$...' }] },
    }, 'x.yaml'),
  );
  const byPath = Object.fromEntries(p.map((x) => [x.path, x]));
  assert.match(byPath['broker.listeners.ws.enabled']?.hint ?? '', /write true: YAML 1.2 reads "yes" as text/);
  const qos = p.find((x) => x.path.endsWith('.qos'));
  assert.equal(qos?.message, 'expected one of 0, 1, received 2');
  assert.match(byPath['auth.users[0].password_hash']?.message ?? '', /not a complete scrypt hash/);
  // A ${file:} that cannot be read is one problem, not also the empty value's schema error.
  const secret = problems(() => validateConfig(full, { auth: { users: [{ username: 'u', password_hash: '${file:/nonexistent/fg-hash}' }] } }, 'x.yaml'));
  assert.deepEqual(secret.map((x) => [x.path, x.message]), [['auth.users[0].password_hash', 'cannot read secret file /nonexistent/fg-hash: ENOENT']]);
  const dir = tempDir();
  try {
    const bad = join(dir.path, 'bad.yaml');
    writeFileSync(bad, 'broker:\n  listeners: [\n');
    const e = problems(() => loadConfig(schema, bad))[0];
    assert.match(e?.path ?? '', /^line \d+, column \d+$/);
    assert.doesNotMatch(e?.message ?? '', /line \d+, column/);
  } finally {
    dir.remove();
  }
});

