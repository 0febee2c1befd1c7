import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ARCHES, buildRelease, type Arch } from '../../deploy/build.ts';
import { generator, idleClients } from '../loadgen.ts';
import type { Result, Scenario } from '../result.ts';
import { alternate, pick, row } from '../rounds.ts';
import { gatewayCommand } from './bridge-process.ts';
import { mosquittoInstalled, rssKb, startBareAedes, startFieldgate, startMosquitto, type Server } from '../servers.ts';

// What a Raspberry Pi owner pays in memory, measured on what ships: fieldgate's release bundle
// (npm run build) under the systemd unit's V8 flags (deploy/raspi/fieldgate.service), with MQTT and
// the CoAP adapter (on by default) and the HTTP API off, against what they could run instead, each
// started fresh in its own process, rounds alternated:
//  - bare aedes + node-coap (bench/servers/bare-aedes.ts) under the same flags;
//  - Mosquitto with its defaults (MQTT only: it has no CoAP).
// Per server: idle RSS 2 s after it listens, then RSS with CONNS idle MQTT clients (each subscribed
// to devices/<id>/cmd at QoS 1, held by the load generator in its own process), and from the two
// the RSS per idle connection. Plus fieldgate with the HTTP API on (the shipped default), time to
// listening, and the bundle and arm64 tarball sizes. Targets (issue 19): idle RSS <= 45 MB, <= 6 KB
// per idle connection at 5,000.

const ROUNDS = pick(1, 3);
const CONNS = pick(1000, 5000);
const SETTLE_MS = 2000;
const COAP = '{ enabled: true, host: 127.0.0.1, port: 0, ipv6: { enabled: false } }';

type Kind = 'fieldgate' | 'aedes_coap' | 'mosquitto' | 'fieldgate_http_on';

async function start(kind: Kind, dir: string): Promise<Server> {
  const fds = CONNS + 1000;
  if (kind === 'fieldgate') return startFieldgate(dir, kind, { adapters: { coap: COAP }, fds });
  if (kind === 'fieldgate_http_on') return startFieldgate(dir, kind, { adapters: { coap: COAP }, extra: 'http: { host: 127.0.0.1, port: 0 }\n', fds });
  if (kind === 'aedes_coap') return startBareAedes(kind, { coap: true, fds });
  return startMosquitto(dir, kind, [], fds);
}

interface Sample {
  idleMb: number;
  loadedMb: number;
  perConnKb: number;
  startMs: number;
}

async function sample(kind: Kind, dir: string): Promise<Sample> {
  const t0 = performance.now();
  const s = await start(kind, dir);
  const startMs = performance.now() - t0;
  try {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const idle = rssKb(s.pid);
    if (kind === 'fieldgate_http_on') return { idleMb: idle / 1024, loadedMb: NaN, perConnKb: NaN, startMs };
    const clients = await idleClients(s.port, CONNS);
    try {
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      const loaded = rssKb(s.pid);
      return { idleMb: idle / 1024, loadedMb: loaded / 1024, perConnKb: (loaded - idle) / CONNS, startMs };
    } finally {
      await clients.stop();
    }
  } finally {
    await s.stop();
  }
}

export const scenario: Scenario = {
  name: 'footprint',
  description: `release bundle under the unit's V8 flags (MQTT + CoAP, HTTP off) vs bare aedes + node-coap vs Mosquitto, fresh processes, ${ROUNDS} alternated round(s): idle RSS and RSS per idle MQTT connection at ${CONNS}; targets: idle <= 45 MB, <= 6 KB/connection at 5,000`,
  async run(): Promise<Result[]> {
    const dir = mkdtempSync(join(tmpdir(), 'fieldgate-footprint-'));
    try {
      await generator();
      // Build the release tree before anything is timed (the first start would include the build).
      const cmd = await gatewayCommand();
      if (cmd.kind !== 'bundle') throw new Error('footprint measures the release bundle, and it did not build');
      const kinds: Kind[] = ['fieldgate', 'aedes_coap', ...(mosquittoInstalled() ? (['mosquitto'] as const) : []), 'fieldgate_http_on'];
      const runs = await alternate(ROUNDS, kinds, (k) => sample(k, dir));
      const sc = 'footprint';
      const xs = (k: Kind, f: (s: Sample) => number) => (runs.get(k) ?? []).map(f);
      const idle = (s: Sample) => s.idleMb;
      const per = (s: Sample) => s.perConnKb;
      const out: Result[] = [
        row(sc, 'idle_rss_fieldgate_vs_aedes_coap', 'MB', xs('fieldgate', idle), { xs: xs('aedes_coap', idle), means: 'fieldgate bundle idle RSS / bare aedes + node-coap idle RSS (same V8 flags); lower is better; target: fieldgate <= 45 MB' }),
        row(sc, `rss_per_idle_conn_at_${CONNS}_fieldgate_vs_aedes_coap`, 'KB', xs('fieldgate', per), { xs: xs('aedes_coap', per), means: `fieldgate (RSS with ${CONNS} idle clients - idle RSS) / ${CONNS} over the same for bare aedes + node-coap; lower is better; target: fieldgate <= 6 KB at 5,000` }),
      ];
      if (runs.has('mosquitto')) {
        out.push(
          row(sc, 'idle_rss_fieldgate_vs_mosquitto', 'MB', xs('fieldgate', idle), { xs: xs('mosquitto', idle), means: 'fieldgate bundle idle RSS / Mosquitto idle RSS; lower is better' }),
          row(sc, `rss_per_idle_conn_at_${CONNS}_fieldgate_vs_mosquitto`, 'KB', xs('fieldgate', per), { xs: xs('mosquitto', per), means: 'fieldgate RSS per idle connection / Mosquitto RSS per idle connection; lower is better' }),
        );
      }
      for (const k of ['aedes_coap', 'mosquitto'] as const) {
        if (!runs.has(k)) continue;
        out.push(row(sc, `idle_rss_${k}`, 'MB', xs(k, idle)), row(sc, `rss_per_idle_conn_at_${CONNS}_${k}`, 'KB', xs(k, per)));
      }
      for (const k of ['fieldgate', 'aedes_coap', 'mosquitto'] as const) if (runs.has(k)) out.push(row(sc, `rss_with_${CONNS}_idle_conns_${k}`, 'MB', xs(k, (s) => s.loadedMb)));
      out.push(
        row(sc, 'idle_rss_fieldgate_http_on_vs_off', 'MB', xs('fieldgate_http_on', idle), { xs: xs('fieldgate', idle), means: 'fieldgate idle RSS with the HTTP API on (the shipped default) / with it off' }),
        row(sc, 'startup_to_listening_fieldgate_vs_aedes_coap', 'ms', xs('fieldgate', (s) => s.startMs), { xs: xs('aedes_coap', (s) => s.startMs), means: 'fieldgate bundle spawn-to-MQTT-listening / bare aedes + node-coap spawn-to-listening; lower is better' }),
      );
      // Sizes: the bundle, and the arm64 tarball a Pi downloads.
      const host: Arch = (ARCHES as readonly string[]).includes(process.arch) ? (process.arch as Arch) : 'x64';
      const built = await buildRelease({ out: join(dir, 'dist'), arches: host === 'arm64' ? ['arm64'] : ['arm64', host] });
      const kib = (n: number) => Math.round(n / 1024);
      out.push(
        { scenario: sc, metric: 'bundle_size', value: kib(built.bundleBytes), unit: 'KiB' },
        { scenario: sc, metric: 'tarball_size_linux_arm64', value: kib(statSync(built.tarballs.find((t) => t.arch === 'arm64')!.path).size), unit: 'KiB' },
      );
      return out;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
