import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { builtinAdapters } from '../app/adapters.ts';
import { buildSchema } from '../app/config.ts';
import { ConfigError, validateConfig } from './load.ts';
import { childNode, schemaNode, type SchemaNode } from './schema-keys.ts';

// Docs describe what exists. Every config option the docs name (`adapters.coap.mountpoint`,
// `bridge.queue.dir`, ...), every key in their YAML examples, and every page they link must be
// accepted by the schema / exist on disk. An adapter's docs land with the adapter, so this keeps
// README.md and docs/ honest while adapters come and go.

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PAGES = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const SECTIONS = ['gateway', 'log', 'broker', 'auth', 'sys', 'adapters', 'bridge', 'http'];
const schema = buildSchema(builtinAdapters);
const root = schemaNode(schema);

/** Whether a dotted option path (`adapters.tcp.tls.port`) names an option of the schema. */
function known(path: string): boolean {
  let node: SchemaNode = root;
  for (const key of path.split('.')) {
    const next = childNode(node, key);
    if (next === 'open') return true;
    if (!next) return false;
    node = next;
  }
  return true;
}

function text(page: string): string {
  return readFileSync(join(ROOT, page), 'utf8');
}

test('the option check itself: known options pass, unknown ones do not', () => {
  for (const p of ['adapters.coap.mountpoint', 'bridge.queue.dir', 'broker.listeners.tls.cert_file', 'log.adapters']) assert.equal(known(p), true, p);
  for (const p of ['adapters.no_such_adapter', 'broker.listeners.tcp.prot', 'bridge.queue.nope']) assert.equal(known(p), false, p);
});

test('every config option the docs name in backticks is accepted by the schema', () => {
  const unknown: string[] = [];
  for (const page of PAGES) {
    for (const m of text(page).matchAll(new RegExp(`\`((?:${SECTIONS.join('|')})\\.[A-Za-z0-9_.]+)`, 'g'))) {
      const path = (m[1] ?? '').replace(/\.$/, '');
      if (/\.(ts|md|json|yaml|sh)$/.test(path)) continue; // a file name, not an option
      if (!known(path)) unknown.push(`${page}: ${path}`);
    }
  }
  assert.deepEqual(unknown, [], 'options named in the docs that the schema does not accept');
});

test('every YAML config example in the docs has only known keys (adapters included)', () => {
  const bad: string[] = [];
  for (const page of PAGES) {
    for (const m of text(page).matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      let doc: unknown;
      try {
        doc = parseYaml(m[1] ?? '');
      } catch {
        continue; // a fragment, not a config file
      }
      if (!doc || typeof doc !== 'object' || Array.isArray(doc)) continue;
      if (!Object.keys(doc).every((k) => SECTIONS.includes(k))) continue;
      try {
        validateConfig(schema, doc, page, { ...process.env, ...Object.fromEntries([...(m[1] ?? '').matchAll(/\$\{env:([^}]+)\}/g)].map((e) => [e[1], 'x'])) });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
        for (const p of err.problems) if (p.message.startsWith('unknown key')) bad.push(`${page}: ${p.path}`);
      }
    }
  }
  assert.deepEqual(bad, [], 'keys in YAML examples that the schema refuses');
});

test('every page the docs link to exists', () => {
  const missing: string[] = [];
  for (const page of PAGES) {
    const body = text(page);
    const targets = [...body.matchAll(/\]\(([^)#\s]+)(?:#[^)]*)?\)/g)].map((m) => m[1] ?? '').filter((t) => !/^[a-z]+:/.test(t));
    const named = [...body.matchAll(/`?(docs\/[a-z0-9-]+\.md)`?/g)].map((m) => `/${m[1] ?? ''}`);
    for (const t of targets) if (!existsSync(resolve(ROOT, dirname(page), t))) missing.push(`${page}: ${t}`);
    for (const t of named) if (!existsSync(join(ROOT, t))) missing.push(`${page}: ${t.slice(1)}`);
  }
  assert.deepEqual(missing, [], 'links to pages that do not exist');
});
