import { readFileSync } from 'node:fs';
import { createContext, Script, type Context } from 'node:vm';
import { fail, type Advert, type DecodeResult, type Value } from './types.ts';

// User-supplied decoders: a JavaScript file per manufacturer id or service UUID, run in its own V8
// context with a time limit. The file defines the function as `module.exports = function (input)
// {...}` or as a top-level `function decode(input) {...}`. Input and output cross the context
// boundary as JSON text, so the decoder sees only plain data and no object of the gateway.
//
// This isolates mistakes (a throw, an endless loop, a returned Promise), not hostile code: node:vm
// is not a security boundary, and the file is part of the gateway's own configuration.

export interface UserDecoderSpec {
  name: string;
  file: string;
  manufacturer_id?: number;
  service_uuid?: string;
}

export interface UserDecoder {
  name: string;
  manufacturerId?: number;
  serviceUuid?: string;
  run(input: UserInput): DecodeResult;
}

/** What a user decoder receives: Theengs-style hex fields plus the matched payload as numbers. */
export interface UserInput {
  id: string;
  name?: string;
  manufacturerdata?: string;
  servicedata?: string;
  servicedatauuid?: string;
  /** The payload that matched: manufacturer data (company id first) or the service data. */
  bytes: number[];
}

const CALL = new Script(`(function () {
  const out = __fieldgate_decode(JSON.parse(__fieldgate_input));
  if (out && typeof out.then === 'function') return '"__promise__"';
  return JSON.stringify(out === undefined ? null : out);
})()`);

function findFunction(ctx: Context): ((input: unknown) => unknown) | undefined {
  const mod = (ctx.module as { exports?: unknown } | undefined)?.exports;
  if (typeof mod === 'function') return mod as (input: unknown) => unknown;
  const named = (mod as { decode?: unknown } | undefined)?.decode;
  if (typeof named === 'function') return named as (input: unknown) => unknown;
  if (typeof ctx.decode === 'function') return ctx.decode as (input: unknown) => unknown;
  return undefined;
}

function checkValues(out: unknown): Record<string, Value> | string {
  if (typeof out !== 'object' || out === null || Array.isArray(out)) return `returned ${Array.isArray(out) ? 'an array' : typeof out}, not an object of values`;
  const values: Record<string, Value> = {};
  for (const [k, v] of Object.entries(out as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) values[k] = v;
    else return `value "${k}" is ${v === null ? 'null' : typeof v}; only finite numbers, strings and booleans are published`;
  }
  return values;
}

/** Compiles a decoder file; throws an Error naming the file when it cannot be used. */
export function loadUserDecoder(spec: UserDecoderSpec, timeLimitMs: number, source?: string): UserDecoder {
  const format = spec.name;
  let code: string;
  try {
    code = source ?? readFileSync(spec.file, 'utf8');
  } catch (err) {
    throw new Error(`user decoder "${spec.name}": cannot read ${spec.file}: ${(err as Error).message}`);
  }
  const ctx = createContext({ module: { exports: {} } }, { codeGeneration: { strings: false, wasm: false }, microtaskMode: 'afterEvaluate' });
  try {
    new Script(code, { filename: spec.file }).runInContext(ctx, { timeout: timeLimitMs });
  } catch (err) {
    throw new Error(`user decoder "${spec.name}" (${spec.file}) failed to load: ${(err as Error).message}`);
  }
  const fn = findFunction(ctx);
  if (!fn) throw new Error(`user decoder "${spec.name}" (${spec.file}) defines no function: write module.exports = function (input) { ... } or function decode(input) { ... }`);
  ctx.__fieldgate_decode = fn;
  const run = (input: UserInput): DecodeResult => {
    ctx.__fieldgate_input = JSON.stringify(input);
    let text: unknown;
    try {
      text = CALL.runInContext(ctx, { timeout: timeLimitMs });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_SCRIPT_EXECUTION_TIMEOUT') {
        return { ...fail(format, `user decoder "${spec.name}" did not return within ${timeLimitMs} ms (adapters.ble.user_decoder_time_limit)`), timedOut: true };
      }
      return fail(format, `user decoder "${spec.name}" threw: ${String((err as { message?: unknown })?.message ?? err)}`);
    }
    if (text === '"__promise__"') return fail(format, `user decoder "${spec.name}" returned a Promise; decoders must return their values synchronously`);
    const out: unknown = typeof text === 'string' ? JSON.parse(text) : undefined;
    if (out === null || out === undefined) return undefined;
    const values = checkValues(out);
    if (typeof values === 'string') return fail(format, `user decoder "${spec.name}" ${values}`);
    return { ok: true, format, values };
  };
  return { name: spec.name, manufacturerId: spec.manufacturer_id, serviceUuid: spec.service_uuid, run };
}

export function userInput(ad: Advert, bytes: Buffer, uuid?: string, serviceData?: Buffer): UserInput {
  return {
    id: ad.address,
    name: ad.name,
    manufacturerdata: ad.manufacturerData?.toString('hex'),
    servicedata: serviceData?.toString('hex'),
    servicedatauuid: uuid,
    bytes: [...bytes],
  };
}
