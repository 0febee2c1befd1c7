import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import { bleAdapterDefinition } from '../../adapters/ble/index.ts';
import { nobleWithBindings } from '../../adapters/ble/radio.ts';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { lwm2mAdapter } from '../../adapters/lwm2m/index.ts';
import { startModemGateway } from '../../adapters/modem/test-kit.ts';
import { tcpAdapter } from '../../adapters/tcp/index.ts';
import { SimBindings } from '../../firmware-sim/ble/bindings.ts';
import { LoraModuleSim } from '../../firmware-sim/modem/lora-sim.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { startGateway, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';

// The metric table in docs/operations.md against what a running gateway's registry holds: a
// gateway with every adapter (BLE on the simulated controller, the LoRa and NB-IoT modems on
// simulated modules when socat is there) and a bridge upstream.

interface Row {
  type: string;
  labels: string;
  sys: string;
  lazy: boolean;
  /** What it counts: the table's description (markup and the "from the first one" note left out), the family's HELP. */
  help: string;
}

function documented(): Map<string, Row> {
  const text = readFileSync(new URL('../../docs/operations.md', import.meta.url), 'utf8');
  const rows = new Map<string, Row>();
  for (const m of text.matchAll(/^\| `(fieldgate_\w+)` \| (\w+) \| ([^|]*) \| `([^`]+)` \| ([^|]+) \|$/gm)) {
    const labels = m[3]!.split(',').map((l) => l.trim().replace(/`/g, '')).filter(Boolean).sort().join(',');
    assert.ok(!rows.has(m[1]!), `${m[1]} is listed twice`);
    const help = m[5]!.trim().replace(/[;,]? from the first one\b/, '').replace(/`/g, '');
    rows.set(m[1]!, { type: m[2]!, labels, sys: m[4]!, lazy: /from the first one/.test(m[5]!), help });
  }
  return rows;
}

type Family = MetricObjectWithValues<MetricValue<string>>;

function exported(families: Family[]): Map<string, Row> {
  const out = new Map<string, Row>();
  for (const f of families) {
    const labels = new Set(f.values.flatMap((v) => Object.keys(v.labels)).filter((l) => l !== 'le'));
    // The facade's HELP is what the family counts, then its $SYS template (gateway/metrics/metrics.ts helpOf).
    const m = /^(.*) \(\$SYS ([^)]+)\)$/.exec(f.help);
    out.set(f.name, { type: String(f.type), labels: [...labels].sort().join(','), sys: m?.[2] ?? f.help, lazy: false, help: m?.[1] ?? f.help });
  }
  return out;
}

async function everyAdapter(): Promise<Map<string, Row>> {
  const sim = new SimBindings();
  const ble = bleAdapterDefinition({ noble: () => nobleWithBindings(sim) });
  const udp = { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } };
  const cloud = await startGateway();
  const g = await startGateway({
    adapters: { coap: udp, lwm2m: udp, tcp: { enabled: true, port: 0, host: '127.0.0.1' }, ble: { enabled: true } },
    bridge: { upstreams: [{ name: 'cloud', servers: [cloud.url], protocol_version: 4, status: false }] },
  }, [coapAdapter, lwm2mAdapter, tcpAdapter, ble]);
  try {
    await until(() => g.gw.health().every((h) => h.state === 'running'), 'every adapter running');
    return exported(await g.gw.metrics.registry.getMetricsAsJSON());
  } finally {
    await g.stop();
    await cloud.stop();
  }
}

async function modems(): Promise<Map<string, Row>> {
  const lora = await LoraModuleSim.start('rak3172', { nwm: 1, echo: true, airtimeScale: 0.01, seed: 7 });
  const nb = await NbiotModuleSim.start('bc95', { seed: 3, coverage: false });
  try {
    const g = await startModemGateway([
      { name: 'lora0', type: 'rak3172', path: lora.path, lora: { frequency: 868_300_000, sf: 9, bw: 125, cr: 1, preamble: 10, power: 12 } },
      { name: 'nb0', type: 'bc95', path: nb.path, nbiot: { listen_port: 5684, protocol: 'raw' } },
    ]);
    try {
      return exported(await g.gw.metrics.registry.getMetricsAsJSON());
    } finally {
      await g.stop();
    }
  } finally {
    await lora.stop();
    await nb.stop();
  }
}

test('docs/operations.md lists every metric family with its type, labels and $SYS name, and nothing that does not exist', async (t) => {
  const docs = documented();
  assert.ok(docs.size > 100, `the table has ${docs.size} rows`);
  const seen = await everyAdapter();
  const noModem = missingTool('socat', 'socat');
  if (noModem) t.diagnostic(`modem families not checked: ${noModem}`);
  else for (const [k, v] of await modems()) seen.set(k, v);

  const wrong: string[] = [];
  for (const [name, got] of seen) {
    if (!name.startsWith('fieldgate_')) continue;
    // Prometheus base units: seconds and bytes, never ms or KB.
    if (/_(ms|millis|milliseconds|kb|kib|mb)(_|$)/.test(name)) wrong.push(`${name} is not in a base unit`);
    const row = docs.get(name);
    if (!row) wrong.push(`${name} (${got.type} {${got.labels}} ${got.sys}) is not in the table`);
    else if (row.type !== got.type || row.labels !== got.labels || row.sys !== got.sys) {
      wrong.push(`${name}: the table says ${row.type} {${row.labels}} ${row.sys}, the registry ${got.type} {${got.labels}} ${got.sys}`);
    } else if (row.help !== got.help) {
      wrong.push(`${name}: HELP "${got.help}" is not the table's "${row.help}" (gateway/metrics/help.ts)`);
    }
  }
  const modemFamily = (r: Row) => r.labels.split(',').includes('modem');
  for (const [name, row] of docs) {
    if (!seen.has(name) && !row.lazy && !(noModem && modemFamily(row))) wrong.push(`${name} is in the table but not exported`);
  }
  assert.deepEqual(wrong, []);
});
