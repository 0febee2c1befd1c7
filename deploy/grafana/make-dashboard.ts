// Writes deploy/grafana/fieldgate-dashboard.json (run: npx tsx deploy/grafana/make-dashboard.ts).
// Kept as code so panels stay consistent; the JSON is what Grafana imports.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

interface Target { expr: string; legend: string }
let id = 0;
const DS = { type: 'prometheus', uid: '${DS_PROMETHEUS}' };
const sel = '{instance=~"$instance"}';

function panel(title: string, type: 'timeseries' | 'stat', grid: [number, number, number, number], targets: Target[], unit = 'short', description = '') {
  id++;
  return {
    id,
    type,
    title,
    description,
    datasource: DS,
    gridPos: { x: grid[0], y: grid[1], w: grid[2], h: grid[3] },
    fieldConfig: { defaults: { unit, ...(type === 'timeseries' ? { custom: { lineWidth: 1, fillOpacity: 10, showPoints: 'never' } } : {}) }, overrides: [] },
    options: type === 'stat' ? { reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false }, colorMode: 'value', graphMode: 'area' } : { legend: { displayMode: 'list', placement: 'bottom' }, tooltip: { mode: 'multi' } },
    targets: targets.map((t, i) => ({ refId: String.fromCharCode(65 + i), datasource: DS, expr: t.expr, legendFormat: t.legend })),
  };
}

const m = (name: string, extra = '') => `${name}${sel.replace('}', `${extra}}`)}`;

const panels = [
  panel('Uptime', 'stat', [0, 0, 4, 4], [{ expr: `time() - ${m('process_start_time_seconds')}`, legend: '{{instance}}' }], 's'),
  panel('MQTT clients', 'stat', [4, 0, 4, 4], [{ expr: m('fieldgate_connections'), legend: '{{instance}}' }]),
  panel('Devices known', 'stat', [8, 0, 4, 4], [{ expr: m('fieldgate_devices'), legend: '{{instance}}' }]),
  panel('Bridge upstreams connected', 'stat', [12, 0, 4, 4], [{ expr: `sum by (instance) (${m('fieldgate_bridge_upstreams_connected')})`, legend: '{{instance}}' }]),
  panel('Bridge backlog age', 'stat', [16, 0, 4, 4], [{ expr: m('fieldgate_bridge_queue_oldest_age_seconds'), legend: '{{instance}}' }], 's', 'Age of the oldest message an upstream still needs'),
  panel('Adapters unhealthy', 'stat', [20, 0, 4, 4], [{ expr: `count by (instance) (${m('fieldgate_adapters_healthy')} == 0) or vector(0)`, legend: '{{instance}}' }]),
  panel('Messages in', 'timeseries', [0, 4, 12, 8], [{ expr: `rate(${m('fieldgate_messages_received_total')}[$__rate_interval])`, legend: '{{instance}} received' }], 'ops'),
  panel('Messages dropped, by reason', 'timeseries', [12, 4, 12, 8], [
    { expr: `rate(${m('fieldgate_messages_dropped_not_authorized_total')}[$__rate_interval])`, legend: '{{instance}} not authorized' },
    { expr: `rate(${m('fieldgate_messages_dropped_queue_full_total')}[$__rate_interval])`, legend: '{{instance}} session queue full' },
    { expr: `sum by (instance, reason) (rate(${m('fieldgate_bridge_dropped_total')}[$__rate_interval]))`, legend: '{{instance}} bridge {{reason}}' },
  ], 'ops'),
  panel('Bridge forwarded, per upstream', 'timeseries', [0, 12, 12, 8], [{ expr: `rate(${m('fieldgate_bridge_upstreams_forwarded_total')}[$__rate_interval])`, legend: '{{instance}} {{upstream}}' }], 'ops'),
  panel('Bridge queue', 'timeseries', [12, 12, 12, 8], [
    { expr: m('fieldgate_bridge_queue_messages'), legend: '{{instance}} messages' },
    { expr: m('fieldgate_bridge_queue_oldest_age_seconds'), legend: '{{instance}} oldest (s)' },
  ]),
  panel('Bridge log: SD card writes', 'timeseries', [0, 20, 12, 8], [
    { expr: `rate(${m('fieldgate_bridge_log_bytes_written_total')}[$__rate_interval])`, legend: '{{instance}} bytes/s' },
  ], 'Bps', 'Flash wear: bytes the store-and-forward log writes'),
  panel('Adapters', 'timeseries', [12, 20, 12, 8], [
    { expr: m('fieldgate_adapters_healthy'), legend: '{{instance}} {{adapter}} healthy' },
    { expr: `increase(${m('fieldgate_adapters_restarts_total')}[1h])`, legend: '{{instance}} {{adapter}} restarts/h' },
  ]),
  panel('Publish latency (p99), per adapter', 'timeseries', [0, 28, 12, 8], [
    { expr: `histogram_quantile(0.99, sum by (instance, adapter, le) (rate(${m('fieldgate_adapters_publish_duration_seconds_bucket')}[$__rate_interval])))`, legend: '{{instance}} {{adapter}}' },
  ], 's', 'From an adapter publish to the message accepted: in the bridge log (when it forwards it) and routed by the broker'),
  panel('Bridge log fsync (p99)', 'timeseries', [12, 28, 12, 8], [
    { expr: `histogram_quantile(0.99, sum by (instance, lane, le) (rate(${m('fieldgate_bridge_log_fsync_seconds_bucket')}[$__rate_interval])))`, legend: '{{instance}} {{lane}}' },
  ], 's', 'Time of one group-commit fdatasync of the store-and-forward log: slow SD cards show here first'),
  panel('Memory', 'timeseries', [0, 36, 8, 8], [
    { expr: m('process_resident_memory_bytes'), legend: '{{instance}} RSS' },
    { expr: m('nodejs_heap_size_used_bytes'), legend: '{{instance}} heap used' },
  ], 'bytes'),
  panel('CPU', 'timeseries', [8, 36, 8, 8], [{ expr: `rate(${m('process_cpu_seconds_total')}[$__rate_interval])`, legend: '{{instance}}' }], 'percentunit'),
  panel('Event loop lag (p99)', 'timeseries', [16, 36, 8, 8], [{ expr: m('nodejs_eventloop_lag_p99_seconds'), legend: '{{instance}}' }], 's'),
];

const dashboard = {
  __inputs: [{ name: 'DS_PROMETHEUS', label: 'Prometheus', type: 'datasource', pluginId: 'prometheus', pluginName: 'Prometheus' }],
  __requires: [{ type: 'grafana', id: 'grafana', name: 'Grafana', version: '10.0.0' }, { type: 'datasource', id: 'prometheus', name: 'Prometheus', version: '1.0.0' }],
  title: 'fieldgate',
  uid: 'fieldgate-overview',
  description: 'fieldgate gateways: clients, devices, messages, the bridge and its backlog, adapters, process',
  tags: ['fieldgate', 'iot', 'mqtt'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 1,
  refresh: '30s',
  time: { from: 'now-6h', to: 'now' },
  templating: {
    list: [{
      name: 'instance',
      label: 'Gateway',
      type: 'query',
      datasource: DS,
      query: { query: 'label_values(fieldgate_connections, instance)', refId: 'instance' },
      definition: 'label_values(fieldgate_connections, instance)',
      includeAll: true,
      multi: true,
      current: { text: 'All', value: '$__all' },
      refresh: 2,
    }],
  },
  panels,
};

const out = fileURLToPath(new URL('./fieldgate-dashboard.json', import.meta.url));
writeFileSync(out, `${JSON.stringify(dashboard, null, 2)}\n`);
process.stdout.write(`wrote ${out} (${panels.length} panels)\n`);
