import type { Aedes, AedesPublishPacket } from 'aedes';

// aedes runs every publish through mqemitter with at most 100 messages being delivered at once
// (aedes's `concurrency`); the rest wait in mqemitter's queue. When a delivery finishes, mqemitter
// starts the next queued message from inside that completion, and a message whose delivery finishes
// synchronously (no subscriber matches it, or only in-process ones that call back at once) starts
// the next one from inside its own, so a queue of a few thousand such messages recurses until the
// stack overflows: an uncaught RangeError that ends the process. One client writing ~5,000 QoS 0
// PUBLISHes in one burst while 100 deliveries are pending does it, and so does a burst through the
// message API. The guard is one in-process subscription to everything that lets at most
// SYNC_DEPTH deliveries finish synchronously before the stack unwinds (a nextTick, which runs only
// on an empty stack, resets the count); past that its callback waits for the next turn
// (setImmediate), so a queued message then starts from a fresh stack. Below the bound it costs
// nothing per message (an immediate per message was the guard's price before, and it held one of
// aedes's 100 delivery slots until the next turn). aedes's bound on concurrent deliveries stays.

/** Synchronous completions allowed on one stack: each costs a handful of frames inside mqemitter. */
const SYNC_DEPTH = 64;

/** Subscribes the guard; resolves once it is in place. */
export function guardEmitRecursion(aedes: Aedes): Promise<void> {
  let depth = 0;
  const unwound = () => {
    depth = 0;
  };
  const guard = (_packet: AedesPublishPacket, done: () => void) => {
    if (depth === 0) process.nextTick(unwound);
    if (++depth <= SYNC_DEPTH) return done();
    setImmediate(done);
  };
  return new Promise((resolve) => aedes.subscribe('#', guard, resolve));
}
