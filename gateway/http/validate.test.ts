import assert from 'node:assert/strict';
import { test } from 'node:test';
import { validatorCompiler } from './validate.ts';

function error(r: unknown): string {
  assert.ok(r && typeof r === 'object' && 'error' in r, `expected an error, got ${JSON.stringify(r)}`);
  return (r as { error: Error }).error.message;
}

test('request validation: coercion of query text, defaults, bounds, enums, required, arrays; unknown keywords refused', () => {
  const q = validatorCompiler({ httpPart: 'querystring', schema: { type: 'object', properties: { page: { type: 'integer', minimum: 1, default: 1 }, ids: { type: 'array', items: { type: 'string' } }, on: { type: 'boolean' }, s: { type: 'string', enum: ['a', 'b'] } }, required: ['s'] } });
  assert.deepEqual(q({ s: 'a' }), { value: { s: 'a', page: 1 } });
  assert.deepEqual(q({ s: 'b', page: '3', ids: 'x', on: 'true' }), { value: { s: 'b', page: 3, ids: ['x'], on: true } });
  assert.match(error(q({ s: 'a', page: '0' })), /page must be >= 1/);
  assert.match(error(q({ s: 'a', page: '1.5' })), /page must be integer/);
  assert.match(error(q({ s: 'c' })), /s must be one of a, b/);
  assert.match(error(q({})), /required property 's'/);
  const body = validatorCompiler({ httpPart: 'body', schema: { type: 'object', properties: { n: { type: 'integer' }, t: { type: 'string', minLength: 1, pattern: '^[a-z]+$' } } } });
  assert.match(error(body({ n: '3' })), /n must be integer/, 'JSON bodies are not coerced');
  assert.match(error(body({ t: 'A' })), /t must match pattern/);
  assert.match(error(body([])), /must be object/);
  assert.throws(() => validatorCompiler({ schema: { type: 'object', oneOf: [] } }), /does not support the JSON Schema keyword "oneOf"/);
});
