import { fstatSync } from 'node:fs';

// Under systemd, stdout goes to journald, which reads a "<N>" prefix on each line as the line's
// syslog priority (sd-daemon(3), SD_ERR etc.) and stamps the time itself. So each pino record
// becomes one readable line, "<3>bridge: upstream x: connection lost url=... err=...", and
// `journalctl -p warning` filters by level.

/** pino's numeric levels to syslog priorities: fatal=crit(2), error=err(3), warn=warning(4), info(6), debug and trace(7). */
export function syslogPriority(level: number): number {
  if (level >= 60) return 2;
  if (level >= 50) return 3;
  if (level >= 40) return 4;
  if (level >= 30) return 6;
  return 7;
}

// Fields that become the line's prefix, or that journald already records.
const PREFIX_KEYS = ['component', 'adapter'];
const DROPPED = new Set(['level', 'time', 'msg', 'pid', 'hostname', ...PREFIX_KEYS]);

function formatValue(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v && typeof v === 'object' && 'message' in v && typeof (v as { message: unknown }).message === 'string') return JSON.stringify((v as { message: string }).message);
  return JSON.stringify(v) ?? String(v);
}

/** One pino JSON record as a journald line: "<prio>component: message key=value ...". */
export function journalLine(record: Record<string, unknown>): string {
  const prio = syslogPriority(typeof record.level === 'number' ? record.level : 30);
  const prefix = PREFIX_KEYS.map((k) => record[k]).filter((v) => typeof v === 'string').join('/');
  const fields = Object.entries(record)
    .filter(([k, v]) => !DROPPED.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${formatValue(v)}`);
  const msg = typeof record.msg === 'string' ? record.msg : '';
  // A message with a newline (a stack) would become several journal entries, the later ones at
  // the default priority: keep it on one line.
  return `<${prio}>${prefix ? `${prefix}: ` : ''}${[msg, ...fields].filter(Boolean).join(' ').replace(/\n/g, '\\n')}\n`;
}

/** A pino destination that writes journald lines to `out`. */
export function journalDestination(out: NodeJS.WritableStream): { write(chunk: string): boolean } {
  return {
    write(chunk: string) {
      let text: string;
      try {
        text = journalLine(JSON.parse(chunk) as Record<string, unknown>);
      } catch {
        text = `<6>${chunk.endsWith('\n') ? chunk : `${chunk}\n`}`;
      }
      return out.write(text);
    },
  };
}

/**
 * Whether `fd` (stdout) is the journal stream systemd connected: JOURNAL_STREAM holds
 * "<device>:<inode>" of that stream (systemd.exec(5)); comparing them ignores a variable inherited
 * by a child whose stdout was redirected elsewhere.
 */
export function writesToJournal(env: NodeJS.ProcessEnv = process.env, fd = 1): boolean {
  const js = env.JOURNAL_STREAM;
  if (!js) return false;
  const [dev, ino] = js.split(':');
  try {
    const st = fstatSync(fd, { bigint: true });
    return String(st.dev) === dev && String(st.ino) === ino;
  } catch {
    return false;
  }
}
