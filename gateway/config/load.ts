import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { keysAt, schemaNode } from './schema-keys.ts';

/** One readable problem with a config file: where, what, and what to do about it. */
export interface ConfigProblem {
  path: string;
  message: string;
  hint?: string;
}

export class ConfigError extends Error {
  constructor(readonly source: string, readonly problems: ConfigProblem[]) {
    super(
      `invalid config ${source}:\n` +
        problems.map((p) => `  - ${p.path || '(top level)'}: ${p.message}${p.hint ? ` (hint: ${p.hint})` : ''}`).join('\n'),
    );
    this.name = 'ConfigError';
  }
}

// ${env:NAME} and ${file:/path} let secrets stay out of the YAML file (systemd credentials, k8s
// secrets, a root-only file). Resolved before validation so the schema sees the final values.
const SECRET_REF = /\$\{(env|file):([^}]+)\}/g;

function resolveSecrets(value: unknown, path: string, problems: ConfigProblem[], env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    return value.replace(SECRET_REF, (_all, kind: string, ref: string) => {
      if (kind === 'env') {
        const v = env[ref];
        if (v === undefined) problems.push({ path, message: `environment variable ${ref} is not set`, hint: `export ${ref}=... before starting` });
        return v ?? '';
      }
      try {
        return readFileSync(ref, 'utf8').trim();
      } catch (err) {
        problems.push({ path, message: `cannot read secret file ${ref}: ${(err as NodeJS.ErrnoException).code ?? err}`, hint: 'check the path and that the fieldgate user may read it' });
        return '';
      }
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, `${path}[${i}]`, problems, env));
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = resolveSecrets(v, path ? `${path}.${k}` : k, problems, env);
    return out;
  }
  return value;
}

function formatPath(path: PropertyKey[]): string {
  return path.reduce<string>((acc, seg) => (typeof seg === 'number' ? `${acc}[${seg}]` : acc ? `${acc}.${String(seg)}` : String(seg)), '');
}

/** The value at `path` in the document, to show what was received. */
function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = doc;
  for (const seg of path) v = v && typeof v === 'object' ? (v as Record<PropertyKey, unknown>)[seg] : undefined;
  return v;
}

function hintFor(issue: z.core.$ZodIssue, schema: z.ZodType, received: unknown): string | undefined {
  switch (issue.code) {
    case 'unrecognized_keys': {
      const keys = keysAt(schemaNode(schema), issue.path);
      return keys.length ? `remove it or use one of: ${keys.join(', ')}` : 'remove it';
    }
    case 'invalid_type':
      if (issue.expected === 'number') return 'write a bare number, without quotes';
      if (issue.expected === 'boolean') {
        // YAML 1.2 (what the yaml package reads) has only true/false; YAML 1.1's yes/no/on/off are strings.
        const word = typeof received === 'string' ? received.trim().toLowerCase() : '';
        if (['yes', 'y', 'on'].includes(word)) return `write true: YAML 1.2 reads "${received as string}" as text, not as a boolean`;
        if (['no', 'n', 'off'].includes(word)) return `write false: YAML 1.2 reads "${received as string}" as text, not as a boolean`;
        return 'write true or false, without quotes';
      }
      return undefined;
    default:
      return undefined;
  }
}

/**
 * A union of literals (`qos: 0 | 1`) fails with zod's bare "Invalid input": name the accepted
 * values instead. Undefined when the union is anything else.
 */
function literalUnionMessage(issue: z.core.$ZodIssue, received: unknown): string | undefined {
  if (issue.code !== 'invalid_union') return undefined;
  const values: unknown[] = [];
  for (const branch of issue.errors) {
    const only = branch.length === 1 ? branch[0] : undefined;
    if (!only || only.code !== 'invalid_value' || only.path.length > 0) return undefined;
    values.push(...only.values);
  }
  return `expected one of ${values.map((v) => JSON.stringify(v)).join(', ')}, received ${JSON.stringify(received)}`;
}

export function problemsFrom(error: z.ZodError, schema: z.ZodType, doc?: unknown): ConfigProblem[] {
  return error.issues.map((issue) => {
    const path = formatPath(issue.path);
    const received = valueAt(doc, issue.path);
    if (issue.code === 'unrecognized_keys') {
      const where = path ? `${path}.` : '';
      return { path: issue.keys.map((k) => `${where}${k}`).join(', '), message: `unknown key${issue.keys.length > 1 ? 's' : ''}`, hint: hintFor(issue, schema, received) };
    }
    const message = literalUnionMessage(issue, received) ?? issue.message.replace(/^Invalid input: /, '');
    return { path, message, hint: hintFor(issue, schema, received) };
  });
}

/** Validates an already-parsed document against `schema`, throwing a ConfigError listing every problem. */
export function validateConfig<S extends z.ZodType>(schema: S, doc: unknown, source: string, env = process.env): z.output<S> {
  const problems: ConfigProblem[] = [];
  const resolved = resolveSecrets(doc ?? {}, '', problems, env);
  const result = schema.safeParse(resolved);
  if (!result.success) {
    // A value whose ${env:}/${file:} could not be resolved is already reported: its empty
    // stand-in failing the schema ("is not a complete scrypt hash") would only be a second,
    // misleading error for the same line.
    const unresolved = problems.map((p) => p.path);
    const within = (path: string) => unresolved.some((u) => path === u || path.startsWith(`${u}.`) || path.startsWith(`${u}[`));
    problems.push(...problemsFrom(result.error, schema, resolved).filter((p) => !within(p.path)));
  }
  if (problems.length) throw new ConfigError(source, problems);
  return result.data as z.output<S>;
}

/**
 * Reads and validates a YAML config. With no path at all the embedded defaults apply (a gateway
 * that starts on a fresh clone); a path that was named but cannot be read is an error, never a
 * silent fallback.
 */
export function loadConfig<S extends z.ZodType>(schema: S, file: string | undefined, env = process.env): z.output<S> {
  if (!file) return validateConfig(schema, {}, '(embedded defaults)', env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(file, [{ path: '', message: `cannot read the file (${code ?? String(err)})`, hint: code === 'ENOENT' ? 'check the path, or start without --config to use the embedded defaults' : 'check the file permissions' }]);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const e = err as YAMLParseError;
    const line = e.linePos?.[0];
    // The message ends with the position the path already gives: say it once.
    const what = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?\s*$/, '');
    throw new ConfigError(file, [{ path: line ? `line ${line.line}, column ${line.col}` : '', message: `YAML syntax error: ${what}` }]);
  }
  if (doc !== null && doc !== undefined && (typeof doc !== 'object' || Array.isArray(doc))) {
    throw new ConfigError(file, [{ path: '', message: 'the file must hold a mapping of sections (gateway:, broker:, ...)' }]);
  }
  return validateConfig(schema, doc, file, env);
}
