import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Result, Scenario } from './result.ts';

// `npm run bench` runs every scenario in bench/scenarios/; `npm run bench -- NAME [NAME...]` runs
// the named ones; `--quick` runs fewer rounds and messages (development; closing figures come from
// the full mode). Prints a table (medians with min-max over the rounds where a scenario ran
// rounds), what each ratio means, and writes bench/results/latest.json. Ratios compare two paths
// measured in this same run, because these machines are too noisy for absolute thresholds; each
// scenario also records the 1-minute load average when it ended, which says how noisy it was.

const here = dirname(fileURLToPath(import.meta.url));

async function loadScenarios(): Promise<Scenario[]> {
  const dir = join(here, 'scenarios');
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts')).sort();
  const out: Scenario[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(join(dir, f)).href)) as { default?: Scenario; scenario?: Scenario } & Partial<Scenario>;
    const s = mod.default ?? mod.scenario ?? (mod.name && mod.run ? (mod as Scenario) : undefined);
    if (s) out.push(s);
  }
  return out;
}

function table(rows: Result[]): string {
  const head = ['scenario', 'metric', 'value', 'min-max', 'unit', 'baseline', 'ratio'];
  const range = (r: Result) => (r.min === undefined || r.max === undefined ? '' : `${fmt(r.min)}-${fmt(r.max)}`);
  const cells = rows.map((r) => [r.scenario, r.metric, fmt(r.value), range(r), r.unit, r.baseline === undefined ? '' : fmt(r.baseline), r.ratio === undefined ? '' : r.ratio.toFixed(3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const right = new Set([2, 3, 5, 6]);
  const line = (c: string[]) => c.map((x, i) => (right.has(i) ? x.padStart(widths[i]!) : x.padEnd(widths[i]!))).join('  ');
  // Every row that says what it means: its ratio, else its baseline column, else the row itself.
  const notes = rows.filter((r) => r.means).map((r) => `  ${r.scenario} ${r.metric}: ${r.ratio !== undefined ? 'ratio = ' : r.baseline !== undefined ? 'baseline = ' : ''}${r.means}`);
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.map(line), ...(notes.length ? ['', 'What the ratios and baselines mean:', ...notes] : [])].join('\n');
}

function fmt(n: number): string {
  return Number.isInteger(n) ? String(n) : n.toFixed(2);
}

async function main(): Promise<void> {
  // Before the scenarios are imported: they size their runs when loaded.
  if (process.argv.includes('--quick')) process.env.BENCH_QUICK = '1';
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const all = await loadScenarios();
  const unknown = wanted.filter((w) => !all.some((s) => s.name === w));
  if (unknown.length) {
    process.stderr.write(`unknown scenario(s): ${unknown.join(', ')}; known: ${all.map((s) => s.name).join(', ')}\n`);
    process.exit(2);
  }
  const chosen = wanted.length ? all.filter((s) => wanted.includes(s.name)) : all;
  const results: Result[] = [];
  let failed = 0;
  for (const s of chosen) {
    process.stderr.write(`bench: ${s.name}${s.description ? ` (${s.description})` : ''}\n`);
    try {
      results.push(...(await s.run()));
      results.push({ scenario: s.name, metric: 'load_average_1m_at_end', value: Math.round(loadavg()[0]! * 100) / 100, unit: 'load' });
    } catch (err) {
      failed++;
      process.stderr.write(`bench: ${s.name} failed: ${(err as Error).stack ?? err}\n`);
    }
  }
  process.stdout.write(`${table(results)}\n`);
  const out = join(here, 'results', 'latest.json');
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  process.stderr.write(`bench: wrote ${out}\n`);
  process.exit(failed ? 1 : 0);
}

await main();
