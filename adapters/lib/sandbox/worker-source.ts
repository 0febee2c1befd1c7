// The code a sandbox worker runs, as text (the worker is started with eval: the bundle has no
// separate worker file to point at). It holds the operator's file in its own vm context and calls
// the function it defines, one call at a time. Input and output cross as JSON text, so the decoder
// sees plain data and no object of the gateway. The context has its own microtask queue, drained
// right after each evaluation, so promises a decoder queues run inside the call (and inside its CPU
// limit) instead of keeping the worker busy afterwards.
//
// No time limit here: the host measures this thread's CPU time and terminates the worker (see
// sandbox.ts); a vm timeout is wall-clock time and would stop a healthy decoder on a loaded host.
// Loading is the exception (its limit is generous): a file that loops at top level fails its load.
//
// Each reply goes on the port, then the shared counter is bumped and notified, so a host blocked in
// Atomics.wait (the synchronous sandbox) wakes up and takes it with receiveMessageOnPort.
export const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { readlinkSync } = require('node:fs');
const vm = require('node:vm');
const { port, signal } = workerData;
// '#promise' cannot be JSON text, which is all JSON.stringify returns (or undefined, for a function).
const CALL = new vm.Script('(function () {' +
  '  const out = __sandbox_fn(JSON.parse(__sandbox_in));' +
  "  if (out !== null && (typeof out === 'object' || typeof out === 'function') && typeof out.then === 'function') return '#promise';" +
  '  return JSON.stringify(out === undefined ? null : out);' +
  '})()');
let ctx;
function thread() {
  try { return readlinkSync('/proc/thread-self'); } catch { return undefined; }
}
function load(m) {
  const codeGeneration = m.strict ? { strings: false, wasm: false } : undefined;
  ctx = vm.createContext({}, { codeGeneration, microtaskMode: 'afterEvaluate' });
  const opts = { timeout: m.loadLimitMs };
  if (m.prelude) vm.runInContext(m.prelude, ctx, opts);
  new vm.Script(m.source, { filename: m.file }).runInContext(ctx, opts);
  const fn = vm.runInContext(m.entry, ctx, opts);
  if (typeof fn !== 'function') return { missing: true };
  ctx.__sandbox_fn = fn;
  return { thread: thread() };
}
function call(m) {
  ctx.__sandbox_in = m.input;
  try {
    const text = CALL.runInContext(ctx);
    return text === '#promise' ? { promise: true } : { json: typeof text === 'string' ? text : 'null' };
  } catch (e) {
    return { threw: String((e && e.message) || e) };
  }
}
port.on('message', (m) => {
  let r;
  try {
    r = m.type === 'load' ? load(m) : call(m);
  } catch (e) {
    r = { threw: String((e && e.message) || e) };
  }
  port.postMessage(Object.assign({ id: m.id }, r));
  Atomics.add(signal, 0, 1);
  Atomics.notify(signal, 0);
});
`;
