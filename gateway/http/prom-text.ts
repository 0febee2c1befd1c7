// Interim: the gateway's metrics are still the in-house registry (gateway/metrics) until the core
// moves them to prom-client; this renders its snapshot in the Prometheus text format.

const LABELLED: [RegExp, string][] = [
  [/^adapters\/([^/]+)\/(.+)$/, 'adapter'],
  [/^bridge\/upstreams\/([^/]+)\/(.+)$/, 'upstream'],
];

function metricName(path: string): string {
  return `fieldgate_${path.replace(/[^A-Za-z0-9_]/g, '_')}`;
}

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function exposition(snapshot: Record<string, number>): string {
  const families = new Map<string, string[]>();
  for (const [path, value] of Object.entries(snapshot)) {
    let name = metricName(path);
    let labels = '';
    for (const [re, label] of LABELLED) {
      const m = re.exec(path);
      if (!m?.[1] || !m[2]) continue;
      name = metricName(`${path.startsWith('adapters/') ? 'adapter' : 'bridge_upstream'}/${m[2]}`);
      labels = `{${label}="${escapeLabel(m[1])}"}`;
      break;
    }
    const lines = families.get(name) ?? [];
    lines.push(`${name}${labels} ${Number.isFinite(value) ? value : 0}`);
    families.set(name, lines);
  }
  let out = '';
  for (const [name, lines] of families) out += `# HELP ${name} ${name}\n# TYPE ${name} gauge\n${lines.join('\n')}\n`;
  return out;
}
