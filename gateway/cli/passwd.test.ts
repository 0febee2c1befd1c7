import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { verifyPassword } from '../auth/password.ts';
import { missingTool } from '../test/tools.ts';

// `fieldgate passwd` on a real terminal: util-linux's `script` gives the CLI a pseudo-terminal,
// so the raw-mode, twice-asked path runs exactly as for a person typing.

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function onTerminal(typed: string): Promise<{ code: number | null; out: string }> {
  const child = spawn('script', ['-qec', `"${process.execPath}" --import tsx "${MAIN}" passwd`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b) => (out += b));
  child.stderr.on('data', (b) => (out += b));
  child.stdin.end(typed);
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, out })));
}

describe('fieldgate passwd on a terminal', () => {
  const skip = missingTool('script', 'bsdutils');

  test('asks twice and prints a hash of the password', { skip }, async () => {
    const r = await onTerminal('s3cret\rs3cret\r');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /password: /);
    assert.match(r.out, /again: /);
    const hash = /\$scrypt\$\S+/.exec(r.out)?.[0];
    assert.ok(hash, r.out);
    assert.equal(await verifyPassword('s3cret', hash), true);
  });

  test('two different passwords: exit 1, no hash', { skip }, async () => {
    const r = await onTerminal('s3cret\rs3cert\r');
    assert.equal(r.code, 1, r.out);
    assert.match(r.out, /the two passwords differ/);
    assert.doesNotMatch(r.out, /\$scrypt\$/);
  });
});
