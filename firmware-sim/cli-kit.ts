// What every `npm run sim -- <protocol>` command does the same way: parse its options (a bad one
// prints the message and the usage, exit code 2; --help prints the usage, exit code 0), check
// numeric options, and run until Ctrl-C, SIGTERM or --duration.
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;
type Values<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O }>>['values'];

/** Prints `message` and the usage to stderr; returns the exit code of a usage error (2). */
export function usageError(message: string, usage: string): number {
  process.stderr.write(`${message}\n\n${usage}`);
  return 2;
}

/**
 * The parsed options, or the exit code to return at once: 2 after a usage error, 0 after --help
 * (-h). `options` need not declare help.
 */
export function parseCli<const O extends Options>(argv: string[], options: O, usage: string): Values<O> | number {
  let values: Values<O> & { help?: boolean };
  try {
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean', short: 'h', default: false } } }).values as Values<O> & { help?: boolean };
  } catch (err) {
    return usageError((err as Error).message, usage);
  }
  if (values.help) {
    process.stdout.write(usage);
    return 0;
  }
  delete values.help;
  return values;
}

/** `--name`'s value as a number >= min; throws a message for usageError otherwise. */
export function numberArg(name: string, value: string | undefined, min: number): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}, got "${value}"`);
  return n;
}

/** `build()`'s result (an object, so it cannot be taken for an exit code), or the usage-error exit code when it throws (a numberArg out of range). */
export function checkArgs<T extends object>(usage: string, build: () => T): T | number {
  try {
    return build();
  } catch (err) {
    return usageError((err as Error).message, usage);
  }
}

/** Resolves on Ctrl-C, SIGTERM, after `durationS` seconds when given, or when any of `also` settles. */
export async function untilStopped(durationS?: number, ...also: Promise<unknown>[]): Promise<void> {
  let done!: () => void;
  const stopped = new Promise<void>((resolve) => (done = resolve));
  process.once('SIGINT', done);
  process.once('SIGTERM', done);
  const timer = durationS === undefined ? undefined : setTimeout(done, durationS * 1000);
  for (const p of also) p.then(done, done);
  await stopped;
  process.off('SIGINT', done);
  process.off('SIGTERM', done);
  clearTimeout(timer);
}
