import { createRequire } from 'node:module';
import { test } from 'node:test';
import { createBoundedPersistence } from './session-queue.ts';

// Issue 11 item 8: the bounded session persistence is run through aedes-persistence's own abstract
// test suite (the conformance tests every aedes persistence passes), with bounds far above what
// the suite stores, so the contract is checked unchanged. The bounds themselves are tested in
// session-bounds.test.ts and test/broker.test.ts.

const require = createRequire(import.meta.url);
const abstractPersistence = require('aedes-persistence/abstract.js') as (opts: { test: typeof test; persistence: () => unknown; testAsync: boolean }) => void;

abstractPersistence({
  test,
  persistence: () => createBoundedPersistence({ maxQueued: 100_000, maxSessionBytes: 1 << 30, maxTotalBytes: 1 << 30, onDrop: () => {} }),
  testAsync: true,
});
