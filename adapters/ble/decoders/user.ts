import { readFileSync } from 'node:fs';
import { NoEntryError, SyncSandbox, type Outcome } from '../../lib/sandbox/sandbox.ts';
import { fail, type Advert, type DecodeResult, type Value } from './types.ts';

// User-supplied decoders: a JavaScript file per manufacturer id or service UUID, run in a worker
// thread in its own V8 context (adapters/lib/sandbox) with a CPU time limit and a 32 MB heap. The
// file defines the function as `module.exports = function (input) {...}` or as a top-level
// `function decode(input) {...}`. Input and output cross as JSON text, so the decoder sees only
// plain data and no object of the gateway. The ingest pipeline is synchronous, so each call waits
// for the worker (SyncSandbox); the decoder's CPU time is the worker thread's.
//
// This isolates mistakes (a throw, an endless loop, unbounded allocation, a returned Promise), not
// hostile code: the file is part of the gateway's own configuration.

/** The worker's heap limit (MB). */
const MEMORY_MB = 32;
const PRELUDE = 'var module = { exports: {} };';
const ENTRY = `(function () {
  var m = module.exports;
  if (typeof m === 'function') return m;
  if (m && typeof m.decode === 'function') return m.decode;
  if (typeof decode === 'function') return decode;
})()`;

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
  /** Ends the decoder's worker. */
  close(): Promise<void>;
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

function checkValues(out: unknown): Record<string, Value> | string {
  if (typeof out !== 'object' || out === null || Array.isArray(out)) return `returned ${Array.isArray(out) ? 'an array' : typeof out}, not an object of values`;
  const values: Record<string, Value> = {};
  for (const [k, v] of Object.entries(out as Record<string, unknown>)) {
    if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) values[k] = v;
    else return `value "${k}" is ${v === null ? 'null' : typeof v}; only finite numbers, strings and booleans are published`;
  }
  return values;
}

/** Loads a decoder file in its worker; throws an Error naming the file when it cannot be used. */
export function loadUserDecoder(spec: UserDecoderSpec, timeLimitMs: number, source?: string): UserDecoder {
  let code: string;
  try {
    code = source ?? readFileSync(spec.file, 'utf8');
  } catch (err) {
    throw new Error(`user decoder "${spec.name}": cannot read ${spec.file}: ${(err as Error).message}`);
  }
  let sandbox: SyncSandbox;
  try {
    sandbox = new SyncSandbox({ file: spec.file, source: code, prelude: PRELUDE, entry: ENTRY, strict: true, timeLimitMs, loadLimitMs: Math.max(timeLimitMs, 1000), memoryMb: MEMORY_MB });
  } catch (err) {
    if (err instanceof NoEntryError) throw new Error(`user decoder "${spec.name}" (${spec.file}) defines no function: write module.exports = function (input) { ... } or function decode(input) { ... }`);
    throw new Error(`user decoder "${spec.name}" (${spec.file}) failed to load: ${(err as Error).message}`);
  }
  const run = (input: UserInput): DecodeResult => result(spec.name, timeLimitMs, sandbox.call(JSON.stringify(input)));
  return { name: spec.name, manufacturerId: spec.manufacturer_id, serviceUuid: spec.service_uuid, run, close: () => sandbox.close() };
}

/** A sandbox outcome as a decode result; a stop (CPU time or memory) is marked for the breaker. */
function result(name: string, timeLimitMs: number, o: Outcome): DecodeResult {
  if (o.kind === 'stopped' && o.reason === 'time') return { ...fail(name, `user decoder "${name}" did not return within ${timeLimitMs} ms of CPU time (adapters.ble.user_decoder_time_limit)`), timedOut: true };
  if (o.kind === 'stopped') return { ...fail(name, `user decoder "${name}" went over its ${MEMORY_MB} MB memory limit`), timedOut: true };
  if (o.kind === 'threw') return fail(name, `user decoder "${name}" threw: ${o.message}`);
  if (o.kind === 'promise') return fail(name, `user decoder "${name}" returned a Promise; decoders must return their values synchronously`);
  const out: unknown = JSON.parse(o.json);
  if (out === null) return undefined;
  const values = checkValues(out);
  if (typeof values === 'string') return fail(name, `user decoder "${name}" ${values}`);
  return { ok: true, format: name, values };
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
