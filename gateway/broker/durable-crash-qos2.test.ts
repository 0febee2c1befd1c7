import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { startChild, stopChild } from '../test/cli.ts';
import { tempDir, until } from '../test/helpers.ts';

// Issue 17 item 12, QoS 2 on a real gateway process killed with -9: every message a publisher got
// PUBCOMP for reaches the offline clean-session-0 subscriber exactly once; a message the gateway
// answered with PUBREC (awaiting PUBREL) when it died is delivered, once, when the publisher comes
// back and sends its PUBREL; and a subscriber that completed its QoS 2 flows before a second kill
// gets none of them again. Both clients keep their MQTT state in one Store across connections, as a
// real persistent client does, so a duplicate PUBLISH would be seen as one.

const tmp = tempDir('fieldgate-durable-crash-qos2-');
after(() => tmp.remove());

/** A persistent client whose message handler is in place before CONNACK. */
function persistent(url: string, opts: IClientOptions, got?: string[]): Promise<{ c: MqttClient; sessionPresent: boolean }> {
  const c = mqtt.connect(url, { reconnectPeriod: 0, clean: false, ...opts });
  c.on('error', () => {});
  if (got) c.on('message', (t, p) => got.push(`${t}=${p.toString()}`));
  return new Promise((resolve, reject) => {
    c.once('connect', (ack) => resolve({ c, sessionPresent: ack.sessionPresent }));
    c.once('close', () => reject(new Error(`${opts.clientId} closed before CONNACK`)));
  });
}

/** A client's MQTT state kept across its connections (mqtt.js closes a Store when a client ends). */
class KeptStore extends mqtt.Store {
  override close(cb: () => void): void {
    cb();
  }
}

const counts = (got: string[]) => got.reduce((m, k) => m.set(k, (m.get(k) ?? 0) + 1), new Map<string, number>());

test('kill -9 with QoS 2 state: completed messages queued for an offline subscriber and an inbound message awaiting PUBREL are each delivered exactly once', async () => {
  const config = join(tmp.path, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  const subStore = { incomingStore: new KeptStore(), outgoingStore: new KeptStore() };
  const pubStore = { incomingStore: new KeptStore(), outgoingStore: new KeptStore() };
  const got: string[] = [];
  let gw = await startChild(config);
  try {
    const first = await persistent(gw.url, { clientId: 'field-q2', ...subStore }, got);
    await first.c.subscribeAsync('cmd/#', { qos: 2 });
    await first.c.endAsync(); // offline: its messages are queued

    const pub = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    const sent: string[] = [];
    for (let i = 0; i < 40; i++) {
      await pub.publishAsync('cmd/dev', `m${i}`, { qos: 2 }); // resolves on PUBCOMP
      sent.push(`cmd/dev=m${i}`);
    }
    await pub.endAsync();

    // Inbound QoS 2: the gateway dies as the PUBREC arrives, before it can see the PUBREL.
    const p2 = await persistent(gw.url, { clientId: 'pub-q2', ...pubStore });
    const child = gw.child;
    p2.c.on('packetreceive', (packet) => {
      if (packet.cmd === 'pubrec') child.kill('SIGKILL');
    });
    p2.c.publish('cmd/dev', 'inflight', { qos: 2 });
    await stopChild(child, 'SIGKILL');
    p2.c.end(true);
    assert.equal(got.length, 0);

    gw = await startChild(config);
    const again = await persistent(gw.url, { clientId: 'field-q2', ...subStore }, got);
    assert.equal(again.sessionPresent, true);
    let pubcomps = 0;
    again.c.on('packetsend', (packet) => {
      if (packet.cmd === 'pubcomp') pubcomps++;
    });
    await until(() => sent.every((k) => got.includes(k)), `all ${sent.length} completed messages at the subscriber`, 30_000).catch((err: Error) => {
      throw new Error(`${err.message}: missing ${sent.filter((k) => !got.includes(k)).join(', ')}; got ${got.join(', ')}`);
    });
    assert.ok(!got.includes('cmd/dev=inflight'), 'not before its PUBREL');

    // The publisher comes back with its session and its store: mqtt.js resends the PUBREL.
    const completed = new Promise<void>((resolve) => {
      const back = mqtt.connect(gw.url, { reconnectPeriod: 0, clean: false, clientId: 'pub-q2', ...pubStore });
      back.on('packetreceive', (packet) => {
        if (packet.cmd === 'pubcomp') back.end(true, {}, () => resolve());
      });
    });
    await completed;
    await until(() => got.includes('cmd/dev=inflight'), 'the message released after the restart');
    const all = [...sent, 'cmd/dev=inflight'];
    // Killed at once, within the journal's lazy flush: the PUBRELs the gateway sent must already be
    // on disk, or it would resend the PUBLISHes the subscriber has completed.
    await until(() => pubcomps >= all.length, `the subscriber's ${all.length} PUBCOMPs sent (${pubcomps})`);
    await stopChild(gw.child, 'SIGKILL');
    again.c.end(true);

    gw = await startChild(config);
    const third = await persistent(gw.url, { clientId: 'field-q2', ...subStore }, got);
    assert.equal(third.sessionPresent, true);
    const pub3 = await mqtt.connectAsync(gw.url, { reconnectPeriod: 0 });
    await pub3.publishAsync('cmd/dev', 'marker', { qos: 2 });
    await pub3.endAsync();
    await until(() => got.includes('cmd/dev=marker'), 'a live message after the second kill');
    await third.c.endAsync();
    const dup = [...counts(got)].filter(([, n]) => n > 1);
    assert.deepEqual(dup, [], 'each message exactly once');
    assert.deepEqual(got.slice(0, all.length).sort(), [...all].sort());
    assert.equal(got.length, all.length + 1);
  } finally {
    await stopChild(gw.child, 'SIGKILL');
  }
});
