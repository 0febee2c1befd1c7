import pino, { type Logger, type LevelWithSilent } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level: LevelWithSilent;
  /** json for journald and log shippers; pretty for a person at a terminal; auto picks by TTY. */
  format: 'auto' | 'json' | 'pretty';
  destination?: NodeJS.WritableStream;
}

/**
 * Builds the root logger. Secrets that may appear in logged objects are redacted. pino-pretty runs
 * in-process (not as a worker transport) so the esbuild bundle stays one file.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const dest = opts.destination ?? process.stdout;
  const usePretty = opts.format === 'pretty' || (opts.format === 'auto' && (dest as NodeJS.WriteStream).isTTY === true);
  const base = {
    level: opts.level,
    base: undefined,
    redact: { paths: ['password', '*.password', 'token', '*.token', 'password_hash', '*.password_hash'], censor: '[redacted]' },
  };
  if (usePretty) {
    return pino(base, pretty({ destination: dest, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  return pino(base, dest as pino.DestinationStream);
}
