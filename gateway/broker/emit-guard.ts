import type { Aedes, AedesPublishPacket } from 'aedes';

// aedes runs every publish through mqemitter with at most 100 messages being delivered at once
// (aedes's `concurrency`); the rest wait in mqemitter's queue. When a delivery finishes, mqemitter
// starts the next queued message from inside that completion, and a message whose delivery finishes
// synchronously (no subscriber matches it, or only in-process ones that call back at once) starts
// the next one from inside its own, so a queue of a few thousand such messages recurses until the
// stack overflows: an uncaught RangeError that ends the process. One client writing ~5,000 QoS 0
// PUBLISHes in one burst while 100 deliveries are pending does it, and so does a burst through the
// message API. The guard is one in-process subscription to everything whose callback waits for the
// next turn (setImmediate), so no delivery ever finishes synchronously and each queued message
// starts from a fresh stack. aedes's bound on concurrent deliveries stays as it is.

/** Subscribes the guard; resolves once it is in place. */
export function guardEmitRecursion(aedes: Aedes): Promise<void> {
  const deferDone = (_packet: AedesPublishPacket, done: () => void) => setImmediate(done);
  return new Promise((resolve) => aedes.subscribe('#', deferDone, resolve));
}
