import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { connect, startGateway, until } from '../test/helpers.ts';
import { parsePrometheusText } from './test/prom-parse.ts';
import { startApiGateway } from './test/support.ts';

describe('Prometheus', () => {
  test('/metrics and /api/v5/prometheus/stats: valid text exposition with the gateway and process metrics', async (t) => {
    const g = await startApiGateway();
    try {
      const c = await connect(g.url, { clientId: 'm1' });
      await c.publishAsync('m/1', 'x', { qos: 1 });
      const res = await fetch(`${g.api}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      const text = await res.text();
      const families = parsePrometheusText(text);
      for (const [name, f] of families) {
        assert.ok(name.startsWith('fieldgate_') || name.startsWith('process_') || name.startsWith('nodejs_'), `unexpected family ${name}`);
        assert.ok(f.help, `${name} has HELP`);
        // What it counts, not only its kind (gateway/metrics/help.ts).
        if (name.startsWith('fieldgate_')) assert.doesNotMatch(f.help!, /^(counter|gauge|histogram) \(/, `${name}: HELP says what it counts`);
        if (f.type === 'counter') assert.ok(name.endsWith('_total') || f.samples.every((s) => s.name.endsWith('_total')), `counter ${name} ends in _total`);
      }
      const value = (name: string) => families.get(name)?.samples[0]?.value;
      assert.equal(value('fieldgate_connections'), 1);
      assert.ok((value('process_resident_memory_bytes') ?? 0) > 0, 'process metrics present');
      assert.ok(families.has('nodejs_eventloop_lag_seconds'));
      const stats = await (await fetch(`${g.api}/api/v5/prometheus/stats`)).text();
      assert.ok(parsePrometheusText(stats).has('fieldgate_connections'));
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (promtool.error) t.diagnostic('promtool not found ("apt-get install prometheus" adds it): checked with the built-in parser only');
      else {
        // prom-client's own process gauges nodejs_active_{handles,requests,resources}_total end in
        // _total; promtool's lint names them. Every other complaint fails the test.
        const problems = `${promtool.stdout}${promtool.stderr}`.split('\n').filter((l) => l.trim() && !/^nodejs_active_\w+_total non-counter metrics should not have "_total" suffix$/.test(l.trim()));
        assert.deepEqual(problems, [], `promtool check metrics (exit ${promtool.status})`);
      }
      await c.endAsync();
    } finally {
      await g.stop();
    }
  });

  test('every metric the Grafana dashboard queries is exported by a gateway with an adapter and an upstream', async () => {
    const dashboard = JSON.parse(readFileSync(new URL('../../deploy/grafana/fieldgate-dashboard.json', import.meta.url), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const names = new Set<string>();
    for (const p of dashboard.panels) for (const t of p.targets) for (const m of t.expr.matchAll(/\b((?:fieldgate|process|nodejs)_[a-z0-9_]+)\b(?!\.\*)/g)) names.add(m[1]!);
    assert.ok(names.size > 10, `the dashboard queries ${names.size} metrics`);
    const cloud = await startGateway();
    const g = await startApiGateway({
      adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } } },
      bridge: { upstreams: [{ name: 'cloud', servers: [cloud.url], protocol_version: 4, status: false }] },
    }, [coapAdapter]);
    try {
      await until(() => g.gw.bridge.health()[0]?.connected === true, 'the upstream connected');
      const families = parsePrometheusText(await (await fetch(`${g.api}/metrics`)).text());
      const samples = new Set([...families.values()].flatMap((f) => f.samples.map((x) => x.name)));
      // A labelled histogram has its family (HELP, TYPE) from the start and its series from the first observation.
      const missing = [...names].filter((n) => !families.has(n) && !samples.has(n) && !(families.get(n.replace(/_bucket$/, ''))?.type === 'histogram'));
      assert.deepEqual(missing, [], 'metrics the dashboard queries that the gateway does not export');
    } finally {
      await g.stop();
      await cloud.stop();
    }
  });
});
