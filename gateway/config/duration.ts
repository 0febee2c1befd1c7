import { z } from 'zod';

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/**
 * Parses "250ms", "30s", "5m", "2h", "7d" into milliseconds. A bare number is refused (undefined)
 * unless it is 0: Mosquitto and EMQX users mean seconds, code used to mean milliseconds, and a
 * guess either way turns `heartbeat: 30` into 30 ms or `sync_interval: 5` into 5 s. 0 is 0 in
 * every unit.
 */
export function parseDuration(input: string | number): number | undefined {
  if (typeof input === 'number') return input === 0 ? 0 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(input);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * UNITS[m[2]!]!);
}

/** The error for a value that is not a duration, with the fix for a bare number. */
export function durationProblem(v: unknown): string {
  if (typeof v === 'number' && Number.isFinite(v) && v > 0) {
    return `${v} has no unit; write "${v}s" for seconds or "${v}ms" for milliseconds (units: ms, s, m, h, d)`;
  }
  return `${JSON.stringify(v)} is not a duration; write e.g. "500ms", "30s", "5m", "1h"`;
}

/** A duration option: users write "30s" (a bare number only as 0); code reads milliseconds. */
export const duration = () =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: durationProblem(v) });
      return z.NEVER;
    }
    return ms;
  });

const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

export function parseSize(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)\s*$/i.exec(input);
  if (!m) return undefined;
  return Math.round(Number(m[1]) * SIZE_UNITS[m[2]!.toLowerCase()]!);
}

/** A byte size option: users write "256MB"; code reads bytes. */
export const byteSize = () =>
  z.union([z.number(), z.string()]).transform((v, ctx) => {
    const n = parseSize(v);
    if (n === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${v}" is not a size; write e.g. 1048576, "64KB", "256MB"` });
      return z.NEVER;
    }
    return n;
  });
