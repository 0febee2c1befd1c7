import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { writeDurably } from '../frames/counters.ts';
import type { DutyCycleLedger } from './duty-cycle.ts';

/**
 * The duty-cycle ledger of one modem on disk, so a gateway that restarts (or crash-loops) does not
 * get a fresh budget: the transmissions of the last window, with the sub-band they were counted in.
 */
export function loadLedger(file: string, ledger: DutyCycleLedger): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new Error(`cannot read the duty-cycle ledger ${file}: ${(err as Error).message}`);
  }
  let doc: { band?: unknown; sends?: unknown };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch (err) {
    throw new Error(`the duty-cycle ledger ${file} is not JSON (${(err as Error).message}): fix or delete it (deleting it forgets the last hour's transmissions)`);
  }
  // Transmissions in another sub-band (the frequency was changed) do not count against this one.
  if (doc.band !== ledger.band.name || !Array.isArray(doc.sends)) return;
  const sends = (doc.sends as unknown[]).filter((s): s is [number, number] => Array.isArray(s) && s.length === 2 && s.every((x) => typeof x === 'number' && Number.isFinite(x)));
  ledger.restore(sends.map(([at, ms]) => ({ at, ms })));
}

/** Written before each transmission is handed to the module (fsync'd, atomic); downlinks are rare. */
export function saveLedger(file: string, ledger: DutyCycleLedger): void {
  mkdirSync(dirname(file), { recursive: true });
  const sends = ledger.entries().map((s) => [s.at, Math.round(s.ms * 10) / 10]);
  writeDurably(file, `${JSON.stringify({ band: ledger.band.name, sends })}\n`);
}
