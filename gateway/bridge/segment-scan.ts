import { mkdirSync, readdirSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { FrameReader } from './frame-reader.ts';
import { HEADER, topicBucket } from './record.ts';
import { SEGMENT_NAME, type Segment } from './segment-files.ts';
import { BUCKETS, type OpenReport } from './store.ts';

/** The smallest frame there is (one-byte topic, empty payload): bounds how many records fit in lost bytes. */
export const MIN_FRAME = HEADER + 6 + 6 + 4 + 1 + 2 + 1;

/**
 * Reads every segment of a lane directory on open: finds the last good record, reports damaged
 * regions, and cuts a torn tail (power lost mid-write) so new appends follow good data. Only the
 * last segment stays open (with `flags`, segmentFlags(): new records are written through it). `seen`
 * is told about each damaged region (so later reads stay quiet).
 */
export async function scanSegments(dir: string, lastSeqOfBucket: Float64Array, seen: (file: string, offset: number) => void, flags: number): Promise<{ segments: Segment[]; report: OpenReport }> {
  mkdirSync(dir, { recursive: true });
  const files = readdirSync(dir).filter((f) => SEGMENT_NAME.test(f)).sort();
  const report: OpenReport = { segments: 0, messages: 0, bytes: 0, damage: [] };
  const segments: Segment[] = [];
  let lastSeq = -1;
  for (const f of files) {
    const base = parseInt(SEGMENT_NAME.exec(f)![1]!, 16);
    const seg: Segment = { base, file: join(dir, f), size: 0, end: Math.max(base, lastSeq + 1) };
    seg.fh = await open(seg.file, flags);
    const { size } = await seg.fh.stat();
    const reader = new FrameReader(seg.fh, 0, size, lastSeq, 1024 * 1024);
    let goodEnd = 0;
    let tornTail = false;
    for (let item = await reader.next(); item; item = await reader.next()) {
      if (item.kind === 'record') {
        lastSeq = item.rec.seq;
        goodEnd = item.at + item.size;
        lastSeqOfBucket[topicBucket(item.rec.topic, BUCKETS)] = item.rec.seq;
        report.messages++;
        continue;
      }
      tornTail = item.to >= size;
      const bytes = item.to - item.from;
      report.damage.push({
        file: seg.file, offset: item.from, bytes, lost: item.lost, action: tornTail ? 'truncated' : 'skipped', why: item.why,
        afterSeq: Math.max(lastSeq, base - 1),
        // Whatever was in a torn tail came after the last good record, and no more frames than fit.
        ...(tornTail ? { maxLost: Math.ceil(bytes / MIN_FRAME) } : {}),
      });
      seen(seg.file, item.from);
    }
    seg.size = size;
    if (tornTail) {
      await seg.fh.truncate(goodEnd);
      await seg.fh.datasync();
      seg.size = goodEnd;
      seg.cut = goodEnd;
    }
    seg.end = Math.max(seg.base, lastSeq + 1);
    report.bytes += seg.size;
    segments.push(seg);
    const prev = segments.at(-2);
    if (prev?.fh) {
      await prev.fh.close();
      prev.fh = undefined;
    }
  }
  report.segments = segments.length;
  return { segments, report };
}
