import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOGIN_DEFAULTS } from '../auth/login-guard.ts';
import { AuthService, type Principal } from '../auth/service.ts';
import type { AclRule, AuthConfig } from '../config/schema.ts';
import { AclCache } from './acl-cache.ts';

// The broker keeps ACL answers per connection and topic (acl-cache.ts): they must follow a
// replaced ACL (SIGHUP) and stay right for topics the rules treat differently.

const p: Principal = { clientid: 'dev1', protocol: 'mqtt', ipaddress: '192.0.2.7', listener: 'tcp' };
const cfg = (acl: AclRule[]): AuthConfig => ({ allow_anonymous: 'always', users: [], acl, acl_nomatch: 'deny', login: LOGIN_DEFAULTS });

test('cached answers match the ACL topic by topic, for publish and read apart', () => {
  const auth = new AuthService(cfg([{ permission: 'allow', action: 'publish', topics: ['%c/up/#'] }, { permission: 'allow', action: 'subscribe', topics: ['%c/down'] }]));
  const cache = new AclCache(auth);
  for (let round = 0; round < 2; round++) {
    assert.equal(cache.mayPublish(p, 'dev1/up/t'), true);
    assert.equal(cache.mayPublish(p, 'dev2/up/t'), false);
    assert.equal(cache.mayRead(p, 'dev1/up/t'), false);
    assert.equal(cache.mayRead(p, 'dev1/down'), true);
    assert.equal(cache.mayPublish(p, 'dev1/down'), false);
  }
});

test('a replaced ACL applies to the next question of a client that asked before', () => {
  const auth = new AuthService(cfg([{ permission: 'allow', action: 'all', topics: ['a/#'] }]));
  const cache = new AclCache(auth);
  assert.equal(cache.mayPublish(p, 'a/1'), true);
  assert.equal(cache.mayRead(p, 'a/1'), true);
  auth.replace(cfg([{ permission: 'deny', action: 'all', topics: ['a/#'] }]));
  assert.equal(cache.mayPublish(p, 'a/1'), false);
  assert.equal(cache.mayRead(p, 'a/1'), false);
});

test('a client walking many topics gets the same answers once the table is full', () => {
  const auth = new AuthService(cfg([{ permission: 'allow', action: 'publish', topics: ['ok/#'] }]));
  const cache = new AclCache(auth);
  for (let i = 0; i < 1000; i++) {
    assert.equal(cache.mayPublish(p, `ok/${i}`), true);
    assert.equal(cache.mayPublish(p, `no/${i}`), false);
  }
});
