import type { SavedState } from './state.ts';
import type { Damage } from './store.ts';

// What a damaged region of the log cost, said exactly where the log and the checkpoint can tell:
// records an upstream had already acknowledged are gone from the file but were delivered there,
// and calling them "unacknowledged" sends an operator looking for losses that did not happen.

export interface LossReport {
  /** Seqs known to have been in the region: [first, end). */
  first: number;
  end: number;
  /** Of those, acknowledged by every upstream (delivered everywhere, nothing lost). */
  acknowledged: number;
  /** Of those, not yet acknowledged by at least one upstream. */
  unacknowledged: number;
  /** Per upstream, how many of those it had not acknowledged (lost for it). */
  lostFor: Record<string, number>;
  /** For a torn tail: records written after the last checkpoint may also have been in it, at most this many in all. */
  atMost?: number;
  line: string;
}

export function describeLoss(d: Damage, lane: string, upstreams: readonly string[], saved: SavedState): LossReport {
  const marks = upstreams.map((u) => saved.positions[`${u}/${lane}`]?.seq ?? 0);
  const first = (d.afterSeq ?? -1) + 1;
  // A skipped region's seqs are known from both sides; a torn tail's only up to what the
  // checkpoint had seen handed out.
  const end = d.lost !== undefined ? first + d.lost : Math.max(first, saved.next[lane] ?? 0, ...marks);
  const ackedBy = (mark: number) => Math.max(0, Math.min(end, mark) - first);
  const acknowledged = marks.length ? Math.min(...marks.map(ackedBy)) : 0;
  const lostFor = Object.fromEntries(upstreams.map((u, i) => [u, end - first - ackedBy(marks[i]!)]));
  const where = `${d.action} ${d.bytes} bytes at ${d.file}:${d.offset}`;
  let what: string;
  if (d.lost === undefined && d.action === 'skipped') what = 'an unknown number of messages';
  else if (end <= first) what = 'no message the last checkpoint knew of';
  else {
    const per = upstreams.map((u) => `${u} ${lostFor[u]}`).join(', ');
    what = `seq ${first}..${end - 1} (${end - first} messages): ${acknowledged} already acknowledged by every upstream (delivered, nothing lost); not yet acknowledged, so lost: ${per}`;
  }
  const tail = d.action === 'truncated' && d.maxLost !== undefined ? `; plus any written after the last checkpoint (at most ${d.maxLost} messages in all fit in those bytes)` : '';
  return {
    first, end, acknowledged, unacknowledged: end - first - acknowledged, lostFor, atMost: d.maxLost,
    line: `bridge log damaged (${d.why}): ${where}; lost ${what}${tail}; the rest of the log is kept`,
  };
}
