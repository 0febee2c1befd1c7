import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Adapters reach the rest of the gateway only through gateway/core (AdapterContext and friends) and
// the config helper gateway/config/duration.ts. Type-only imports count: they still couple the
// adapter to a module it must not know.
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const allowed = (path: string) => path.startsWith('gateway/core/') || path === 'gateway/config/duration.ts';
const isTestCode = (file: string) => file.endsWith('.test.ts') || file === 'test-kit.ts';

test('adapter code imports only gateway/core/* and gateway/config/duration.ts from the gateway', () => {
  const bad: string[] = [];
  for (const file of readdirSync(here).filter((f) => f.endsWith('.ts') && !isTestCode(f))) {
    const src = readFileSync(join(here, file), 'utf8');
    for (const m of src.matchAll(/(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g)) {
      const target = relative(root, resolve(here, m[1]!));
      if (target.startsWith('adapters/tcp/')) continue;
      if (!allowed(target)) bad.push(`${file} imports ${target}`);
    }
  }
  assert.deepEqual(bad, []);
});
