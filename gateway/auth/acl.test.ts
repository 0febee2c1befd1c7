import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AclRule } from '../config/schema.ts';
import { AuthService } from './service.ts';
import { filterCovers, filtersOverlap } from '../core/topic.ts';
import { addressMatches, checkAcl, isLoopback } from './acl.ts';

const rule = (r: Partial<AclRule> & Pick<AclRule, 'permission' | 'topics'>): AclRule => ({ action: 'all', ...r });

test('filterCovers and filtersOverlap', () => {
  assert.equal(filterCovers('a/#', 'a/b/c'), true);
  assert.equal(filterCovers('a/+', 'a/#'), false);
  assert.equal(filterCovers('a/+/c', 'a/+/c'), true);
  assert.equal(filterCovers('a/b', 'a/+'), false);
  assert.equal(filterCovers('#', '$SYS/x'), false);
  assert.equal(filtersOverlap('#', 'secret/x'), true);
  assert.equal(filtersOverlap('a/+/c', 'a/b/#'), true);
  assert.equal(filtersOverlap('a/b', 'a/c'), false);
  assert.equal(filtersOverlap('#', '$SYS/#'), false);
});

test('addresses: exact, CIDR, IPv4-mapped IPv6, loopback', () => {
  assert.equal(addressMatches('10.0.0.0/8', '10.1.2.3'), true);
  assert.equal(addressMatches('10.0.0.0/8', '11.1.2.3'), false);
  assert.equal(addressMatches('192.168.1.5', '::ffff:192.168.1.5'), true);
  assert.equal(isLoopback('127.0.0.1'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('::ffff:127.0.0.1'), true);
  assert.equal(isLoopback('10.0.0.1'), false);
  assert.equal(isLoopback(undefined), false);
});

test('first match wins; placeholders; action filter', () => {
  const rules = [
    rule({ permission: 'deny', clientid: 'bad', topics: ['#'] }),
    rule({ permission: 'allow', action: 'publish', topics: ['up/%c', 'users/%u/#'] }),
    rule({ permission: 'deny', topics: ['#'] }),
  ];
  const p = { clientid: 'c1', username: 'u1', ipaddress: '10.0.0.2', protocol: 'mqtt' };
  assert.equal(checkAcl(rules, p, 'publish', 'up/c1'), 'allow');
  assert.equal(checkAcl(rules, p, 'publish', 'up/c2'), 'deny');
  assert.equal(checkAcl(rules, p, 'publish', 'users/u1/x'), 'allow');
  assert.equal(checkAcl(rules, p, 'subscribe', 'up/c1'), 'deny');
  assert.equal(checkAcl(rules, { ...p, clientid: 'bad' }, 'publish', 'up/bad'), 'deny');
  // %u never expands to an empty level for an anonymous client.
  assert.equal(checkAcl(rules, { clientid: 'x', protocol: 'mqtt' }, 'publish', 'users//x'), 'deny');
  assert.equal(checkAcl([], p, 'publish', 'a'), 'nomatch');
  // A client id or username holding a wildcard or a level separator must not widen %c / %u.
  for (const clientid of ['#', '+', 'a/b', '']) {
    assert.equal(checkAcl(rules, { ...p, clientid }, 'publish', 'up/victim'), 'deny', `clientid ${JSON.stringify(clientid)}`);
  }
  assert.equal(checkAcl(rules, { ...p, username: '+' }, 'publish', 'users/victim/x'), 'deny');
});

test('nomatch: loopback allowed, remote denied by default; $SYS only from loopback; nobody publishes to $SYS', () => {
  const auth = new AuthService({ allow_anonymous: 'loopback', users: [], acl: [], acl_nomatch: 'deny' });
  const local = { clientid: 'a', ipaddress: '127.0.0.1', protocol: 'mqtt' };
  const remote = { clientid: 'b', ipaddress: '192.0.2.7', protocol: 'mqtt' };
  assert.equal(auth.authorize(local, 'publish', 'x'), true);
  assert.equal(auth.authorize(remote, 'publish', 'x'), false);
  assert.equal(auth.authorize(local, 'subscribe', '$SYS/#'), true);
  assert.equal(auth.authorize(remote, 'subscribe', '$SYS/#'), false);
  assert.equal(auth.authorize(local, 'publish', '$SYS/brokers/x'), false);
  const open = new AuthService({ allow_anonymous: 'always', users: [], acl: [], acl_nomatch: 'allow' });
  assert.equal(open.authorize(remote, 'publish', 'x'), true);
  assert.equal(open.authorize(remote, 'subscribe', '$SYS/#'), false, 'acl_nomatch allow does not open $SYS');
  const sysRule = new AuthService({ allow_anonymous: 'always', users: [], acl: [rule({ permission: 'allow', action: 'subscribe', topics: ['$SYS/#'], ipaddress: '192.0.2.0/24' })], acl_nomatch: 'deny' });
  assert.equal(sysRule.authorize(remote, 'subscribe', '$SYS/brokers/+/stats/#'), true);
});

test('a %c or %u substitution never yields a filter starting with $ (client "$SYS" cannot widen %c/# to $SYS/#)', () => {
  const auth = new AuthService({ allow_anonymous: 'always', users: [], acl: [rule({ permission: 'allow', topics: ['%c/#', 'users/%u/#'] })], acl_nomatch: 'deny' });
  const remote = { clientid: '$SYS', username: '$share', ipaddress: '10.0.0.5', protocol: 'mqtt' };
  assert.equal(auth.authorize(remote, 'subscribe', '$SYS/#'), false);
  assert.equal(auth.authorize(remote, 'subscribe', '$SYS/brokers/fieldgate/clients/+/connected'), false);
  assert.equal(checkAcl([rule({ permission: 'allow', topics: ['%u/#'] })], remote, 'subscribe', '$share/#'), 'nomatch');
  // An ordinary id still gets its own tree.
  assert.equal(auth.authorize({ ...remote, clientid: 'dev1' }, 'subscribe', 'dev1/#'), true);
});
