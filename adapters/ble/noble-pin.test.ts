import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';

// What fieldgate relies on from @stoprocent/noble, pinned: an upgrade that changes any of it fails
// here before it reaches a Pi. Why this noble and not @abandonware/noble: docs/ble.md, "Installing
// the HCI addon". The simulator tests cover the rest of the contract (noble's class over a bindings
// object, its events, per-instance memory).

const REPO = resolve(import.meta.dirname, '../..');
const require = createRequire(join(REPO, 'package.json'));
const json = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
const nobleDir = dirname(require.resolve('@stoprocent/noble/package.json'));
// Resolved from noble, as noble (and deploy/build.ts) load it.
const hciDir = dirname(createRequire(join(nobleDir, 'package.json')).resolve('@stoprocent/bluetooth-hci-socket/package.json'));

test('@stoprocent/noble is pinned exactly: package.json, lockfile and node_modules agree on 2.8.0', () => {
  const deps = json(join(REPO, 'package.json')).dependencies as Record<string, string>;
  assert.equal(deps['@stoprocent/noble'], '2.8.0', 'an exact version, no range: a new noble is a reviewed change');
  const lock = json(join(REPO, 'package-lock.json')).packages as Record<string, { version?: string }>;
  assert.equal(lock['node_modules/@stoprocent/noble']?.version, '2.8.0');
  assert.equal(json(join(nobleDir, 'package.json')).version, '2.8.0');
  assert.equal(json(join(hciDir, 'package.json')).version, lock['node_modules/@stoprocent/bluetooth-hci-socket']?.version, 'the HCI socket comes from the lockfile');
});

test('its HCI socket needs no compiler on a Pi: N-API prebuilds for every Pi and x64, picked by node-gyp-build', () => {
  const prebuilds = (platform: string) => readdirSync(join(hciDir, 'prebuilds', platform)).sort();
  // 32-bit Pi OS (armv7) and Pi Zero/1 (armv6), 64-bit Pi OS (armv8), x64 with glibc or musl.
  assert.deepEqual(prebuilds('linux-arm'), ['@stoprocent+bluetooth-hci-socket.armv6.node', '@stoprocent+bluetooth-hci-socket.armv7.node']);
  assert.deepEqual(prebuilds('linux-arm64'), ['@stoprocent+bluetooth-hci-socket.armv8.node']);
  assert.deepEqual(prebuilds('linux-x64'), ['@stoprocent+bluetooth-hci-socket.glibc.node', '@stoprocent+bluetooth-hci-socket.musl.node']);
  // npm 11 still runs install scripts (package.json's allowScripts is only advisory before npm 12):
  // node-gyp-build uses the matching prebuild and compiles only when there is none.
  assert.equal((json(join(hciDir, 'package.json')).scripts as Record<string, string>).install, 'node-gyp-build');
  assert.match(readFileSync(join(hciDir, 'lib', 'native.js'), 'utf8'), /require\('node-gyp-build'\)\(dir\)/, 'deploy/build.ts rewrites this line to load the shipped prebuilds');
  assert.equal(existsSync(join(hciDir, 'build')), false, 'nothing was compiled when it was installed');
});

test('the entry points the adapter calls exist: withBindings for the radio, the class behind the default instance for the simulator', () => {
  // Loading noble on Linux loads the HCI addon: this is the x64 prebuild loading here.
  const noble = require('@stoprocent/noble') as { withBindings?: unknown; constructor: unknown };
  assert.equal(typeof noble.withBindings, 'function');
  assert.equal(typeof noble.constructor, 'function');
  assert.notEqual(noble.constructor, Object);
});
