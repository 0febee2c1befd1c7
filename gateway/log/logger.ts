import pino, { type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';
import { journalDestination, writesToJournal } from './journal.ts';

export type { Logger };

export interface LoggerOptions {
  level: LevelWithSilent;
  /**
   * json for log shippers; pretty for a person at a terminal; journal for systemd's journald
   * (readable lines with syslog priority prefixes); auto: journal when stdout is the journal
   * stream (JOURNAL_STREAM), else pretty on a TTY, else json.
   */
  format: 'auto' | 'json' | 'pretty' | 'journal';
  destination?: NodeJS.WritableStream;
  /** Only for tests: the environment `auto` looks at. */
  env?: NodeJS.ProcessEnv;
}

/** The format `auto` resolves to for this destination. */
export function resolveFormat(opts: LoggerOptions): 'json' | 'pretty' | 'journal' {
  if (opts.format !== 'auto') return opts.format;
  const dest = opts.destination ?? process.stdout;
  if (dest === process.stdout && writesToJournal(opts.env ?? process.env, 1)) return 'journal';
  return (dest as NodeJS.WriteStream).isTTY === true ? 'pretty' : 'json';
}

// Every child logger of a root, so a reload (SIGHUP) can change levels of loggers that components
// already hold: pino children copy their level when created and never look at the parent again.
const children = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/**
 * Builds the root logger. Secrets that may appear in logged objects are redacted. pino-pretty runs
 * in-process (not as a worker transport) so the esbuild bundle stays one file.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? process.stdout;
  const tracked = new Set<WeakRef<Logger>>();
  const base = {
    level: opts.level,
    base: undefined,
    redact: { paths: ['password', '*.password', 'token', '*.token', 'password_hash', '*.password_hash'], censor: '[redacted]' },
    onChild: (child: Logger) => {
      tracked.add(new WeakRef(child));
    },
  };
  const format = resolveFormat(opts);
  let root: Logger;
  if (format === 'pretty') root = pino(base, pretty({ destination: dest, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  else if (format === 'journal') root = pino(base, journalDestination(dest) as pino.DestinationStream);
  else root = pino(base, dest as pino.DestinationStream);
  children.set(root, tracked);
  return root;
}

/**
 * Sets the level of `root` and of every child logger made from it: `levelFor` gets each child's
 * bindings (component, adapter, ...) and returns its level, or undefined for the root's.
 */
export function setLevels(root: Logger, level: LevelWithSilent, levelFor: (bindings: Record<string, unknown>) => LevelWithSilent | undefined): void {
  root.level = level;
  const tracked = children.get(root);
  if (!tracked) return;
  for (const ref of tracked) {
    const child = ref.deref();
    if (!child) {
      tracked.delete(ref);
      continue;
    }
    child.level = levelFor(child.bindings()) ?? level;
  }
}
