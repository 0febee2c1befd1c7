import { withRatio, type Result } from './result.ts';

// Rounds, alternated between the servers of a scenario, and their medians and ranges. On a shared
// 2-core machine one run of each says little: the load changes under it, so each server gets the
// same number of turns, interleaved (A B C, B C A, C A B, ...), and the table shows the median and
// the min-max of each.

/** `npm run bench -- --quick`: fewer rounds and messages, for development; the closing figures come from the full mode. */
export const QUICK = process.env.BENCH_QUICK === '1';

export function pick<T>(quick: T, full: T): T {
  return QUICK ? quick : full;
}

/** Runs `run(subject, round)` `rounds` times for every subject, the order rotated each round. */
export async function alternate<K extends string, T>(rounds: number, subjects: readonly K[], run: (subject: K, round: number) => Promise<T>): Promise<Map<K, T[]>> {
  const out = new Map<K, T[]>(subjects.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < subjects.length; i++) {
      const s = subjects[(i + r) % subjects.length]!;
      out.get(s)!.push(await run(s, r));
    }
  }
  return out;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

/** A row: the median of `xs` with its range; with `baseline`, ratio = median / median of the baseline's rounds. */
export function row(scenario: string, metric: string, unit: string, xs: number[], baseline?: { xs: number[]; means: string }): Result {
  const r: Omit<Result, 'ratio'> = { scenario, metric, value: round2(median(xs)), unit, min: round2(Math.min(...xs)), max: round2(Math.max(...xs)) };
  if (!baseline || !baseline.xs.length) return r;
  return withRatio({ ...r, baseline: round2(median(baseline.xs)), means: baseline.means });
}

/** Rows for messages lost and received twice, summed over every round of each server (only when not 0). */
export function lossRows(scenario: string, prefix: string, runs: Map<string, Record<string, number | string>[]>): Result[] {
  const out: Result[] = [];
  for (const [name, rs] of runs) {
    for (const key of ['lost', 'duplicates']) {
      const n = rs.reduce((sum, o) => sum + Number(o[key] ?? 0), 0);
      if (n) out.push({ scenario, metric: `${prefix}_${name}_${key}_all_rounds`, value: n, unit: 'msg' });
    }
  }
  return out;
}
