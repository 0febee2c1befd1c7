// Request validation for the API's schemas, as fastify's validator compiler (its documented
// setValidatorCompiler hook). The schemas use a small JSON Schema subset; checking that subset
// directly costs nothing at start, where ajv generated and compiled code for ~25 schemas at
// every start-up (the larger part of the HTTP API's start-up time and memory on a Pi). A keyword
// outside the subset throws when the route is registered, so a schema can never be silently
// half-checked; the checking functions themselves are built on a route's first request.

type Schema = Record<string, unknown>;
type Check = (value: unknown, path: string) => { value: unknown } | { error: string };

const KNOWN = new Set(['type', 'properties', 'required', 'items', 'enum', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'default', 'description', 'additionalProperties']);

function types(s: Schema): string[] {
  const t = s.type;
  return Array.isArray(t) ? (t as string[]) : t === undefined ? [] : [t as string];
}

/** Query strings and path parameters arrive as text: read them as the schema's type, as ajv's coerceTypes does. */
function coerce(v: unknown, want: string[]): unknown {
  if (typeof v !== 'string') return v;
  if ((want.includes('integer') || want.includes('number')) && /^-?\d+(\.\d+)?$/.test(v)) return Number(v);
  if (want.includes('boolean') && (v === 'true' || v === 'false')) return v === 'true';
  return v;
}

/** Throws on a keyword outside the subset, in `s` or any schema nested in it. */
function vet(s: Schema): void {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`validate.ts does not support the JSON Schema keyword "${k}"`);
  for (const p of Object.values((s.properties ?? {}) as Record<string, Schema>)) vet(p);
  if (s.items) vet(s.items as Schema);
}

function compile(s: Schema, coerceText: boolean): Check {
  const want = types(s);
  const props = s.properties ? Object.fromEntries(Object.entries(s.properties as Record<string, Schema>).map(([k, p]) => [k, { check: compile(p, coerceText), def: p.default }])) : undefined;
  const items = s.items ? compile(s.items as Schema, coerceText) : undefined;
  const required = (s.required as string[] | undefined) ?? [];
  return (input, path) => {
    let v = coerceText ? coerce(input, want) : input;
    if (want.includes('array') && !Array.isArray(v) && v !== undefined && coerceText) v = [v];
    const is = (t: string) =>
      t === 'null' ? v === null : t === 'integer' ? Number.isInteger(v) : t === 'number' ? typeof v === 'number' && Number.isFinite(v) : t === 'array' ? Array.isArray(v) : t === 'object' ? typeof v === 'object' && v !== null && !Array.isArray(v) : typeof v === t;
    if (want.length && !want.some(is)) return { error: `${path || 'value'} must be ${want.join(' or ')}` };
    if (s.enum && !(s.enum as unknown[]).includes(v)) return { error: `${path} must be one of ${(s.enum as unknown[]).join(', ')}` };
    if (typeof v === 'number') {
      if (typeof s.minimum === 'number' && v < s.minimum) return { error: `${path} must be >= ${s.minimum}` };
      if (typeof s.maximum === 'number' && v > s.maximum) return { error: `${path} must be <= ${s.maximum}` };
    }
    if (typeof v === 'string') {
      if (typeof s.minLength === 'number' && v.length < s.minLength) return { error: `${path} must not have fewer than ${s.minLength} characters` };
      if (typeof s.maxLength === 'number' && v.length > s.maxLength) return { error: `${path} must not have more than ${s.maxLength} characters` };
      if (typeof s.pattern === 'string' && !new RegExp(s.pattern, 'u').test(v)) return { error: `${path} must match pattern "${s.pattern}"` };
    }
    if (Array.isArray(v) && items) {
      const out: unknown[] = [];
      for (let i = 0; i < v.length; i++) {
        const r = items(v[i], `${path}/${i}`);
        if ('error' in r) return r;
        out.push(r.value);
      }
      v = out;
    }
    if (props && typeof v === 'object' && v !== null && !Array.isArray(v)) {
      const obj = { ...(v as Record<string, unknown>) };
      for (const r of required) if (obj[r] === undefined) return { error: `${path ? `${path} ` : ''}must have required property '${r}'` };
      for (const [k, p] of Object.entries(props)) {
        if (obj[k] === undefined) {
          if (p.def !== undefined) obj[k] = p.def;
          continue;
        }
        const r = p.check(obj[k], `${path}/${k}`);
        if ('error' in r) return r;
        obj[k] = r.value;
      }
      v = obj;
    }
    return { value: v };
  };
}

/** fastify's validatorCompiler: `{ schema, httpPart }` in, a function returning `{ value }` or `{ error }` out. */
export function validatorCompiler({ schema, httpPart }: { schema: Schema; httpPart?: string }) {
  vet(schema);
  let check: Check | undefined;
  return (data: unknown) => {
    check ??= compile(schema, httpPart === 'querystring' || httpPart === 'params' || httpPart === 'headers');
    const r = check(data, '');
    return 'error' in r ? { error: new Error(r.error.replace(/^\//, '')) } : { value: r.value };
  };
}
