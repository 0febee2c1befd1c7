// npm test's reporter: Node's own (spec on a terminal, TAP otherwise) plus, at the end, every
// skip on one line with its reason. Node's "# skipped" count leaves out skipped suites (a whole
// describe() skipped, e.g. the arm64 smoke test without its runtime); this list does not.
import { writeSync } from 'node:fs';
import { relative } from 'node:path';
import { Readable } from 'node:stream';
import { spec, tap } from 'node:test/reporters';

// eslint-disable-next-line require-yield -- everything is written synchronously, see below
export default async function* report(source) {
  const skips = [];
  async function* tee() {
    for await (const event of source) {
      if ((event.type === 'test:pass' || event.type === 'test:fail') && event.data.skip !== undefined) {
        const file = event.data.file ? relative(process.cwd(), event.data.file) : '';
        skips.push(`${file}${file ? ': ' : ''}${event.data.name}: ${event.data.skip === true ? 'skipped' : event.data.skip}`);
      }
      // Node's closing "skipped N" counts tests only: say so on that line, so it does not read as a
      // contradiction of the list below (which counts a skipped suite too).
      if (event.type === 'test:diagnostic' && /^skipped \d+$/.test(event.data.message ?? '')) {
        yield { ...event, data: { ...event.data, message: `${event.data.message} (Node's count leaves out skipped suites: see "skipped:" below)` } };
        continue;
      }
      yield event;
    }
  }
  const inner = process.stdout.isTTY ? Readable.from(tee()).pipe(new spec()) : tap(tee());
  // With --test-force-exit the runner calls process.exit as soon as the last test ends, before a
  // reporter has seen the last events: the list is written by an exit handler (synchronously),
  // and the report itself synchronously as it comes, so neither is cut off.
  process.once('exit', () => {
    writeSync(1, skips.length === 0
      ? '\nskipped: none\n'
      : `\nskipped: ${skips.length} (a skipped suite counts once)\n${skips.map((s) => `  skip ${s}\n`).join('')}`);
  });
  for await (const chunk of inner) writeSync(1, chunk);
}
