import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from '../test/helpers.ts';
import { MemoryStore } from './memory-store.ts';
import { SegmentLog } from './segment-log.ts';
import { laneStoreSuite } from './test/lane-store-suite.ts';

// Issue 11 item 8: one suite for both LaneStore implementations (the contract is in store.ts).

laneStoreSuite('SegmentLog', {
  durable: true,
  make: (segmentBytes) => {
    const dir = tempDir('fieldgate-lanestore-');
    const make = () => new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes, syncInterval: 1 });
    const tearTail = (bytes: number) => {
      const file = join(dir.path, readdirSync(dir.path).filter((f) => f.endsWith('.seg')).sort().at(-1)!);
      const buf = readFileSync(file);
      buf.fill(0, Math.max(0, buf.length - bytes));
      writeFileSync(file, buf);
    };
    return { store: make(), reopen: make, tearTail, remove: dir.remove };
  },
});

// Not durable: the close/reopen and torn-tail tests are not registered for it.
laneStoreSuite('MemoryStore', { durable: false, make: (segmentBytes) => ({ store: new MemoryStore('normal', segmentBytes), remove: () => {} }) });
