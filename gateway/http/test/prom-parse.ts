// A strict reader of the Prometheus text exposition format (version 0.0.4), written from the
// format's description, not from the code that produces it: families with HELP/TYPE, samples with
// optional labels, values as Go floats. Throws on the first line that breaks the format.

export interface Family {
  name: string;
  type: string;
  help?: string;
  samples: { name: string; labels: Record<string, string>; value: number }[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Prometheus reads values with Go's strconv.ParseFloat: NaN and Inf in any letter case. */
function value(s: string, line: string): number {
  const l = s.toLowerCase();
  if (l === '+inf' || l === 'inf' || l === '+infinity' || l === 'infinity') return Infinity;
  if (l === '-inf' || l === '-infinity') return -Infinity;
  if (l === 'nan') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`bad value "${s}" in: ${line}`);
  return Number(s);
}

function labels(s: string, line: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < s.length) {
    const eq = s.indexOf('=', i);
    const name = s.slice(i, eq).trim();
    if (eq < 0 || !LABEL.test(name)) throw new Error(`bad label name in: ${line}`);
    if (s[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
    let j = eq + 2;
    let v = '';
    for (; j < s.length && s[j] !== '"'; j++) {
      if (s[j] === '\\') {
        const n = s[++j];
        v += n === 'n' ? '\n' : n;
      } else v += s[j];
    }
    if (j >= s.length) throw new Error(`unterminated label value in: ${line}`);
    if (name in out) throw new Error(`label ${name} twice in: ${line}`);
    out[name] = v;
    i = j + 1;
    if (s[i] === ',') i++;
  }
  return out;
}

/** The family a sample belongs to: histogram/summary series carry suffixes. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const direct = families.get(sample);
  if (direct) return direct;
  for (const suffix of ['_bucket', '_sum', '_count', '_total', '_created']) {
    if (sample.endsWith(suffix)) {
      const f = families.get(sample.slice(0, -suffix.length));
      if (f) return f;
    }
  }
  return undefined;
}

export function parsePrometheusText(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  if (!text.endsWith('\n')) throw new Error('the exposition must end with a newline');
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
      if (!m) continue; // a plain comment
      const [, kind, name, rest] = m as unknown as [string, string, string, string];
      if (!NAME.test(name)) throw new Error(`bad metric name in: ${line}`);
      let f = families.get(name);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest)) throw new Error(`bad type in: ${line}`);
        if (f?.samples.length) throw new Error(`TYPE after samples in: ${line}`);
        if (f && f.type !== 'untyped') throw new Error(`second TYPE for ${name}`);
        if (!f) families.set(name, (f = { name, type: rest, samples: [] }));
        else f.type = rest;
      } else {
        if (f?.help !== undefined) throw new Error(`second HELP for ${name}`);
        if (!f) families.set(name, (f = { name, type: 'untyped', samples: [] }));
        f.help = rest;
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+-?\d+)?$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const name = m[1]!;
    const f = familyOf(name, families) ?? (() => {
      const u: Family = { name, type: 'untyped', samples: [] };
      families.set(name, u);
      return u;
    })();
    f.samples.push({ name, labels: m[3] ? labels(m[3], line) : {}, value: value(m[4]!, line) });
  }
  return families;
}
