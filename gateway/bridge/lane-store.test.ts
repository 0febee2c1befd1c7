import { tempDir } from '../test/helpers.ts';
import { MemoryStore } from './memory-store.ts';
import { SegmentLog } from './segment-log.ts';
import { laneStoreSuite } from './test/lane-store-suite.ts';

// Issue 11 item 8: one suite for both LaneStore implementations (the contract is in store.ts).

laneStoreSuite('SegmentLog', (segmentBytes) => {
  const dir = tempDir('fieldgate-lanestore-');
  const make = () => new SegmentLog({ dir: dir.path, name: 'normal', segmentBytes, syncInterval: 1 });
  return { store: make(), reopen: make, remove: dir.remove };
});

laneStoreSuite('MemoryStore', (segmentBytes) => ({ store: new MemoryStore('normal', segmentBytes), remove: () => {} }));
