import { constants, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { frameSize } from '../gateway/bridge/record.ts';
import { DSYNC } from '../gateway/bridge/segment-files.ts';
import { runLoadgen } from './loadgen.ts';
import { startFieldgate, startMosquitto, type Server } from './servers.ts';

// The bridges bridge-durable and latency put side by side, all forwarding bench/# at QoS 1 to one
// real Mosquitto "cloud": fieldgate's bridge (its defaults: disk log with group commit, 64 in
// flight) and a Mosquitto bridge, plain (its defaults: 20 in flight, 1,000 queued, the rest
// dropped) and tuned (max_queued_messages 1,000,000 and 64 in flight like fieldgate's); neither
// Mosquitto persists anything: they are not durable, fieldgate's log is fsynced before PUBACK.

export const MOSQUITTO_TUNED = ['max_queued_messages 1000000', 'max_inflight_messages 64'];

/** The cloud: Mosquitto with no queue or in-flight limit, so that it never drops what it is sent. */
export function startCloud(dir: string): Promise<Server> {
  return startMosquitto(dir, 'cloud', ['max_queued_messages 0', 'max_inflight_messages 0']);
}

export function startFieldgateBridge(dir: string, name: string, cloud: Server, storage: 'disk' | 'memory' = 'disk', bundle?: string): Promise<Server> {
  const bridge = [
    'http: { enabled: false }',
    'bridge:',
    `  queue: { storage: ${storage} }`,
    '  upstreams:',
    `    - name: cloud`,
    `      servers: ["mqtt://127.0.0.1:${cloud.port}"]`,
    // Each bridge its own client id at the cloud: the same one would take the other's session over.
    `      client_id: bench-${name}`,
    '      status: false',
    '      message_id: none',
    '      forward: [{ local: "bench/#", remote: "{topic}", qos: 1 }]',
    '',
  ].join('\n');
  return startFieldgate(dir, name, { extra: bridge, bundle });
}

export function startMosquittoBridge(dir: string, name: string, cloud: Server, tuned: boolean): Promise<Server> {
  return startMosquitto(dir, name, [...(tuned ? MOSQUITTO_TUNED : []), `connection ${name}`, `remote_clientid bench-${name}`, `address 127.0.0.1:${cloud.port}`, 'topic bench/# out 1', 'cleansession true', 'bridge_protocol_version mqttv311']);
}

/** Resolves once a message published on `local` reaches a subscriber on `cloud`: the bridge is up. */
export async function bridgeUp(local: Server, cloud: Server): Promise<void> {
  const start = Date.now();
  for (let i = 0; ; i++) {
    const r = await runLoadgen(['pubsub', '-p', String(local.port), '-P', String(cloud.port), '-n', '1', '-w', '1', '-c', '1', '-q', '1', '-t', `bench/warm${i}`, '-Q', '1', '-T', '5']);
    if (r.received === 1) return;
    if (Date.now() - start > 30_000) throw new Error(`${local.name}: bridge to the cloud not up after 30 s`);
  }
}

/** What the probe times: what the bridge log's commit is on this platform (gateway/bridge/segment-files.ts). */
export const COMMIT_KIND = DSYNC ? 'O_DSYNC pwrite' : 'write+fdatasync';
/** The probe's buffer: one log record of a 100-byte payload on a bench topic (gateway/bridge/record.ts). */
export const PROBE_BYTES = frameSize('bench/w1r0', Buffer.alloc(100));

/**
 * Median and p99 of `n` durable appends of one record in `dir`, done as the bridge log does them:
 * one positional write to a file opened with O_DSYNC where the platform has it (one thread-pool
 * trip that returns once the data is on disk), else a write plus datasync() (two). Through the
 * same asynchronous FileHandle calls as the log (libuv's thread pool): on a busy machine a blocking
 * fdatasyncSync on the main thread measured up to 20x slower than these.
 */
export async function fdatasyncMs(dir: string, n = 200): Promise<{ p50: number; p99: number; how: string }> {
  const file = join(dir, 'fdatasync-probe');
  const fh = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | DSYNC);
  const buf = Buffer.alloc(PROBE_BYTES, 0x61);
  const t: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await fh.write(buf, 0, buf.length, i * buf.length);
      if (!DSYNC) await fh.datasync();
      t.push(performance.now() - t0);
    }
  } finally {
    await fh.close();
    rmSync(file, { force: true });
  }
  t.sort((a, b) => a - b);
  const r = (x: number) => Math.round(x * 1000) / 1000;
  return { p50: r(t[Math.floor(n / 2)]!), p99: r(t[Math.floor(n * 0.99)]!), how: `${COMMIT_KIND} of ${PROBE_BYTES} B` };
}
