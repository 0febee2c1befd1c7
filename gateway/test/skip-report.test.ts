// npm test's reporter (.ci/skip-report.mjs): a skipped suite is listed with its reason, and Node's
// own "skipped N" line (which counts tests only, so 0 here) says so instead of contradicting it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from './helpers.ts';

const REPORTER = fileURLToPath(new URL('../../.ci/skip-report.mjs', import.meta.url));

test('a skipped suite: listed once with its reason, and Node\'s count of 0 is explained on its line', () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, 'x.test.mjs'), [
      "import { describe, test } from 'node:test';",
      "describe('arm64 smoke', { skip: 'no qemu-aarch64-static' }, () => { test('runs', () => {}); });",
      "test('fine', () => {});",
    ].join('\n'));
    // Without the parent runner's NODE_TEST_CONTEXT, or the child reports to it instead of to stdout.
    const { NODE_TEST_CONTEXT: _, ...env } = process.env;
    const r = spawnSync(process.execPath, ['--test', `--test-reporter=${REPORTER}`, '--test-reporter-destination=stdout', 'x.test.mjs'], { cwd: dir.path, env, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^# skipped 0 \(Node's count leaves out skipped suites: see "skipped:" below\)$/m);
    assert.doesNotMatch(r.stdout, /^# skipped 0$/m);
    assert.match(r.stdout, /\nskipped: 1 \(a skipped suite counts once\)\n {2}skip x\.test\.mjs: arm64 smoke: no qemu-aarch64-static\n/);
  } finally {
    dir.remove();
  }
});
