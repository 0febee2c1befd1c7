import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MqttClient } from 'mqtt';
import { Metrics } from '../metrics/metrics.ts';
import { until } from '../test/helpers.ts';
import { upstreamSchema } from './config.ts';
import { Consumer, type LaneName } from './consumer.ts';
import { MemoryStore } from './memory-store.ts';
import { UpstreamRules } from './rules.ts';
import type { LaneStore, Pos } from './store.ts';

// The consumer on its own, with in-memory lanes and a client that records what it is handed: the
// orderings here depend on which lane's read completes first, which the lanes below control.

/** A lane that counts the reads it has answered. */
class CountingStore extends MemoryStore {
  answered = 0;
  override async read(from: Pos, maxBytes: number) {
    const r = await super.read(from, maxBytes);
    this.answered++;
    return r;
  }
}

/** A lane whose reads complete only when the test says so. */
class HeldStore extends MemoryStore {
  private held: (() => void)[] = [];
  override async read(from: Pos, maxBytes: number) {
    await new Promise<void>((resolve) => this.held.push(resolve));
    return super.read(from, maxBytes);
  }
  unblock(): void {
    for (const r of this.held.splice(0)) r();
  }
}

/** Just enough of MqttClient: publish() records the topic and PUBACKs on the next turn. */
function recordingClient(): { client: MqttClient; sent: string[] } {
  const sent: string[] = [];
  const client = {
    publish(topic: string, _payload: Buffer, _opts: unknown, cb: (err?: Error) => void) {
      sent.push(topic);
      setImmediate(() => cb());
    },
  } as unknown as MqttClient;
  return { client, sent };
}

function consumer(lanes: Record<LaneName, LaneStore>, inflight: number): Consumer {
  const cfg = upstreamSchema.parse({ name: 'cloud', servers: ['mqtt://127.0.0.1:1'], inflight, forward: [{ local: 'alarm/#', priority: 'high' }, { local: '#' }] });
  const m = new Metrics();
  let n = 0;
  const c = () => m.counter(`c${n++}`);
  return new Consumer({
    cfg,
    bit: 0,
    epoch: 'e',
    rules: new UpstreamRules(cfg, 'gw'),
    lanes,
    start: {},
    ttl: 0,
    counters: { forwarded: c(), upstreamForwarded: c(), expired: c(), failed: c(), noRule: c(), tooLarge: c() },
    onDrop: () => {},
  });
}

describe('bridge consumer', () => {
  it('a queued alarm goes first even when the normal lane is read before the priority lane', async () => {
    const high = new HeldStore('high', 1 << 20);
    const normal = new CountingStore('normal', 1 << 20);
    for (let i = 0; i < 20; i++) await normal.append([{ topic: `bulk/${i}`, payload: Buffer.from('x'), qos: 1, retain: false, mask: 1 }]);
    await high.append([{ topic: 'alarm/fire', payload: Buffer.from('!'), qos: 1, retain: false, mask: 1 }]);
    const { client, sent } = recordingClient();
    const cons = consumer({ high, normal }, 4);
    cons.connected(client);
    // The normal lane's read has completed (and the pump it triggers has run); the priority lane's
    // has not. Nothing normal may go yet.
    await until(() => normal.answered > 0, 'the normal lane read');
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [], 'normal messages wait while the priority lane has unread durable records');
    high.unblock();
    await until(() => sent.length === 21, 'all 21 sent');
    assert.equal(sent[0], 'fieldgate/gw/alarm/fire');
    assert.deepEqual(sent.slice(1), Array.from({ length: 20 }, (_, i) => `fieldgate/gw/bulk/${i}`));
  });
});
