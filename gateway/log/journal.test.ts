import assert from 'node:assert/strict';
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../test/helpers.ts';
import { journalLine, syslogPriority } from './journal.ts';

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

test('pino records become "<priority>component: message key=value" lines', () => {
  assert.deepEqual([60, 50, 40, 30, 20, 10].map(syslogPriority), [2, 3, 4, 6, 7, 7]);
  assert.equal(journalLine({ level: 40, time: 1, component: 'bridge', msg: 'upstream down', url: 'mqtts://x:8883', err: 'ECONNREFUSED' }), '<4>bridge: upstream down url=mqtts://x:8883 err=ECONNREFUSED\n');
  assert.equal(journalLine({ level: 30, adapter: 'coap', msg: 'a', note: 'two words', n: 3 }), '<6>coap: a note="two words" n=3\n');
  assert.equal(journalLine({ level: 50, msg: 'line1\nline2' }), '<3>line1\\nline2\n');
});

/** Runs `fieldgate start` with stdout on a file that JOURNAL_STREAM names, as systemd does. */
async function startUnderJournal(config: string, out: string): Promise<{ code: number | null; text: string }> {
  writeFileSync(out, '');
  const fd = openSync(out, 'a');
  const st = fstatSync(fd);
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'start', '--config', config], {
    env: { ...process.env, JOURNAL_STREAM: `${st.dev}:${st.ino}`, NOTIFY_SOCKET: '' },
    stdio: ['ignore', fd, 'pipe'],
  });
  closeSync(fd);
  const code = await new Promise<number | null>((r) => child.on('close', (c) => r(c)));
  return { code, text: readFileSync(out, 'utf8') };
}

test('under journald (JOURNAL_STREAM is stdout): readable lines with priorities; log.format json still gives JSON', async () => {
  const dir = tempDir();
  try {
    // A start that fails at once (192.0.2.1, TEST-NET-1, is no address of this machine) logs
    // at fatal and exits 1.
    const base = `gateway:\n  data_dir: ${join(dir.path, 'data')}\nbroker:\n  listeners:\n    tcp:\n      host: 192.0.2.1\n      port: 0\n`;
    writeFileSync(join(dir.path, 'a.yaml'), base);
    const journal = await startUnderJournal(join(dir.path, 'a.yaml'), join(dir.path, 'a.out'));
    assert.equal(journal.code, 1, journal.text);
    const lines = journal.text.trim().split('\n');
    assert.ok(lines.every((l) => /^<[0-7]>/.test(l)), journal.text);
    assert.ok(lines.some((l) => l.startsWith('<2>') && l.includes('cannot start')), journal.text);
    assert.ok(!journal.text.includes('{"level"'), journal.text);

    writeFileSync(join(dir.path, 'b.yaml'), `${base}log:\n  format: json\n`);
    const json = await startUnderJournal(join(dir.path, 'b.yaml'), join(dir.path, 'b.out'));
    assert.equal(json.code, 1, json.text);
    assert.match(json.text, /^\{"level":60/m);
  } finally {
    dir.remove();
  }
});
