import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

// Import direction, checked on the source text of every module. Adapters reach the rest of the
// gateway only through gateway/core (AdapterContext, ctx.services and friends) and the config
// helper gateway/config/duration.ts; they never import each other (shared engines live in
// adapters/lib, which imports no adapter). Simulators never import the gateway code they test.
// Type-only imports count: they still couple a module to one it must not know.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const isTestCode = (rel: string) => /\.test\.ts$|\.test-kit\.ts$|\/test-kit\.ts$|\/test-support\.ts$/.test(rel);
const IMPORT = /(?:(?:import|export)\s[^;]*?from\s+|import\s*\(\s*|import\s+)(['"])(\.[^'"]+)\1/g;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(root, dir), { withFileTypes: true })) {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory() && e.name !== 'node_modules') out.push(...sources(rel));
    else if (e.isFile() && e.name.endsWith('.ts')) out.push(rel);
  }
  return out;
}

/** Every relative import of a module, as a path from the repository root. */
function importsOf(rel: string): string[] {
  const src = readFileSync(join(root, rel), 'utf8');
  return [...src.matchAll(IMPORT)].map((m) => relative(root, resolve(root, dirname(rel), m[2]!)));
}

const adapterOf = (rel: string) => /^adapters\/([^/]+)\//.exec(rel)?.[1];
const core = (t: string) => t.startsWith('gateway/core/') || t === 'gateway/config/duration.ts';

function violations(files: string[], allowed: (file: string, target: string) => boolean): string[] {
  const bad: string[] = [];
  for (const f of files) for (const t of importsOf(f)) if (!allowed(f, t)) bad.push(`${f} imports ${t}`);
  return bad;
}

test('adapter code imports only gateway/core, gateway/config/duration.ts, its own folder and adapters/lib', () => {
  const files = sources('adapters').filter((f) => adapterOf(f) !== 'lib' && !isTestCode(f));
  assert.ok(files.length > 50, 'the walk found the adapters');
  assert.deepEqual(violations(files, (f, t) => core(t) || t.startsWith(`adapters/${adapterOf(f)}/`) || t.startsWith('adapters/lib/')), []);
});

test('adapters/lib imports no adapter and nothing of the gateway beyond gateway/core', () => {
  const files = sources('adapters/lib').filter((f) => !isTestCode(f));
  assert.ok(files.length > 5);
  assert.deepEqual(violations(files, (_, t) => core(t) || t.startsWith('adapters/lib/')), []);
});

test("an adapter's tests use the gateway and the simulators, never another adapter", () => {
  const files = sources('adapters').filter((f) => isTestCode(f));
  assert.deepEqual(violations(files, (f, t) => !t.startsWith('adapters/') || t.startsWith(`adapters/${adapterOf(f)}/`) || t.startsWith('adapters/lib/')), []);
});

test('simulators import no adapter or gateway code; only their CLIs start a gateway', () => {
  const files = sources('firmware-sim').filter((f) => !isTestCode(f) && basename(f) !== 'cli.ts');
  assert.ok(files.length > 10);
  assert.deepEqual(violations(files, (_, t) => !t.startsWith('adapters/') && !t.startsWith('gateway/')), []);
});

test('the gateway imports adapters only in its composition root (gateway/app) and commands (gateway/cli)', () => {
  // gateway/cli/ble.ts runs the BLE adapter's decoders for `fieldgate ble decode`: a command, like main.ts.
  const files = sources('gateway').filter((f) => !isTestCode(f) && !/^gateway\/(app|cli|test)\//.test(f));
  assert.deepEqual(violations(files, (_, t) => !t.startsWith('adapters/')), []);
});

test('the import pattern sees both quote styles', () => {
  const found = (line: string) => [...line.matchAll(IMPORT)].map((m) => m[2]);
  assert.deepEqual(found(`import { a } from '../coap/index.ts';`), ['../coap/index.ts']);
  assert.deepEqual(found(`import { a } from "../coap/index.ts";`), ['../coap/index.ts']);
  assert.deepEqual(found(`const m = await import("./x.ts");`), ['./x.ts']);
});

/** One cycle in an import graph (as a path a -> b -> ... -> a), or undefined. */
function cycleIn(graph: ReadonlyMap<string, readonly string[]>): string[] | undefined {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (f: string): string[] | undefined => {
    if (state.get(f) === 'done') return undefined;
    if (state.get(f) === 'open') return [...stack.slice(stack.indexOf(f)), f];
    state.set(f, 'open');
    stack.push(f);
    for (const t of graph.get(f) ?? []) {
      const found = visit(t);
      if (found) return found;
    }
    stack.pop();
    state.set(f, 'done');
    return undefined;
  };
  for (const f of graph.keys()) {
    const found = visit(f);
    if (found) return found;
  }
  return undefined;
}

test('no import cycles among modules (type-only imports included)', () => {
  const files = ['gateway', 'adapters', 'firmware-sim', 'bench', 'deploy', 'hw-test'].flatMap((d) => sources(d)).filter((f) => !isTestCode(f));
  assert.ok(files.length > 200, 'the walk found the modules');
  assert.equal(cycleIn(new Map(files.map((f) => [f, importsOf(f)])))?.join(' -> '), undefined);
});

test('the cycle check finds a cycle', () => {
  const graph = new Map([['a.ts', ['b.ts']], ['b.ts', ['c.ts', 'd.ts']], ['c.ts', []], ['d.ts', ['b.ts']]]);
  assert.deepEqual(cycleIn(graph), ['b.ts', 'd.ts', 'b.ts']);
  assert.equal(cycleIn(new Map([['a.ts', ['b.ts']], ['b.ts', []]])), undefined);
});
