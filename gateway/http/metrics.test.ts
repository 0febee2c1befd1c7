import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, test } from 'node:test';
import { connect } from '../test/helpers.ts';
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
        if (f.type === 'counter') assert.ok(name.endsWith('_total') || f.samples.every((s) => s.name.endsWith('_total')), `counter ${name} ends in _total`);
      }
      const value = (name: string) => families.get(name)?.samples[0]?.value;
      assert.equal(value('fieldgate_connections_count'), 1);
      assert.ok((value('process_resident_memory_bytes') ?? 0) > 0, 'process metrics present');
      assert.ok(families.has('nodejs_eventloop_lag_seconds'));
      const stats = await (await fetch(`${g.api}/api/v5/prometheus/stats`)).text();
      assert.ok(parsePrometheusText(stats).has('fieldgate_connections_count'));
      const promtool = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
      if (promtool.error) t.diagnostic('promtool not found ("apt-get install prometheus" adds it): checked with the built-in parser only');
      else assert.equal(promtool.status, 0, `promtool check metrics: ${promtool.stdout}${promtool.stderr}`);
      await c.endAsync();
    } finally {
      await g.stop();
    }
  });
});
