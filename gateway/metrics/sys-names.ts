// The one mapping between the two names every metric has:
//  - its EMQX-style `$SYS` name, slash-separated with label values as levels
//    (`adapters/coap/messages/received`, `bridge/upstreams/cloud/forwarded`), used by `$SYS`
//    topics, `snapshot()` and the tests;
//  - its Prometheus family (`fieldgate_adapters_messages_received_total{adapter="coap"}`).
// A metric is declared with a template whose `{label}` levels are filled from its labels
// (`adapters/{adapter}/messages/received`); the family name is the template without those levels.

export type Labels = Record<string, string>;
export type Kind = 'counter' | 'gauge' | 'histogram';

const PLACEHOLDER = /^\{([a-zA-Z_][a-zA-Z0-9_]*)\}$/;

/** The label names a template declares, in order (`adapters/{adapter}/closed/{reason}` -> adapter, reason). */
export function labelsOf(template: string): string[] {
  const out: string[] = [];
  for (const level of template.split('/')) {
    const m = PLACEHOLDER.exec(level);
    if (m) out.push(m[1]!);
  }
  return out;
}

/**
 * Prometheus family name: `fieldgate_` + the template's fixed levels; counters end in `_total`. A
 * gauge's last `count` level is left out (`connections/count` -> `fieldgate_connections`): `_count`
 * is the suffix of a histogram's or summary's series, and promtool refuses it anywhere else.
 */
export function familyName(template: string, kind: Kind): string {
  const fixed = template.split('/').filter((l) => !PLACEHOLDER.test(l));
  if (kind === 'gauge' && fixed.length > 1 && fixed[fixed.length - 1] === 'count') fixed.pop();
  const base = `fieldgate_${fixed.join('_').replace(/[^a-zA-Z0-9_]/g, '_')}`;
  return kind === 'counter' && !base.endsWith('_total') ? `${base}_total` : base; // connections/total: not _total_total
}

/** The `$SYS` name: the template with each `{label}` level replaced by that label's value. */
export function sysName(template: string, labels: Labels): string {
  return template
    .split('/')
    .map((l) => {
      const m = PLACEHOLDER.exec(l);
      return m ? (labels[m[1]!] ?? '') : l;
    })
    .join('/');
}

// Names that EMQX files under stats/ rather than metrics/ in `$SYS/brokers/{node}/...`.
const STATS = /^(connections|subscriptions|topics|routes|subscribers|sessions)\//;

/** `stats/...` or `metrics/...`, as EMQX 5's emqx_sys publishes them. */
export function sysTopicLevel(name: string): string {
  return `${STATS.test(name) ? 'stats' : 'metrics'}/${name}`;
}
