import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import mqtt from 'mqtt';
import { startGateway, tempDir, until } from '../test/helpers.ts';

// Issue 17 item 12 across a clean stop and start of the gateway in this process: a restored
// persistent session counts as a session (sessions/count, max_sessions) and expires like any
// offline one; with broker.persistence memory nothing survives the restart.

async function offlineSession(url: string): Promise<void> {
  const c = await mqtt.connectAsync(url, { clientId: 'field-dev', clean: false, reconnectPeriod: 0 });
  await c.subscribeAsync('cmd/#', { qos: 1 });
  await c.endAsync();
  const pub = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  await pub.publishAsync('cmd/x', 'queued', { qos: 1 });
  await pub.publishAsync('state/x', 'kept', { qos: 1, retain: true });
  await pub.endAsync();
}

async function reconnect(url: string): Promise<{ sessionPresent: boolean; got: string[]; retained: string[] }> {
  const got: string[] = [];
  const c = mqtt.connect(url, { clientId: 'field-dev', clean: false, reconnectPeriod: 0 });
  c.on('message', (_t, p) => got.push(p.toString()));
  const ack = await new Promise<{ sessionPresent: boolean }>((r) => c.once('connect', r));
  const retained: string[] = [];
  const probe = await mqtt.connectAsync(url, { reconnectPeriod: 0 });
  probe.on('message', (t, p, packet) => packet.retain && retained.push(`${t}=${p}`));
  await probe.subscribeAsync('state/#', { qos: 1 });
  // A marker published after the reconnect: once it is in, anything queued was delivered before it.
  await probe.publishAsync('cmd/marker', 'marker', { qos: 1 });
  if (ack.sessionPresent) await until(() => got.includes('marker'), 'the marker');
  await probe.endAsync();
  await c.endAsync();
  return { sessionPresent: ack.sessionPresent, got: got.filter((g) => g !== 'marker'), retained };
}

test('restored sessions count as sessions and expire like offline ones; broker.persistence memory keeps nothing across a restart', async () => {
  const data = tempDir('fieldgate-durable-restart-');
  try {
    // disk (the default): the session is back, counted, and its message delivered.
    let g = await startGateway({ gateway: { data_dir: join(data.path, 'disk') } });
    await offlineSession(g.url);
    await g.stop();
    g = await startGateway({ gateway: { data_dir: join(data.path, 'disk') }, broker: { max_sessions: 1 } });
    assert.equal(g.gw.metrics.snapshot()['sessions/count'], 1);
    // max_sessions counts it: another persistent session is refused (CONNACK 3) ...
    const refused = await mqtt.connectAsync(g.url, { clientId: 'other', clean: false, reconnectPeriod: 0 }).then(
      (c) => (c.end(true), 'accepted'),
      (err: Error & { code?: number }) => err.code,
    );
    assert.equal(refused, 3);
    // ... while the restored one resumes.
    assert.deepEqual(await reconnect(g.url), { sessionPresent: true, got: ['queued'], retained: ['state/x=kept'] });
    await g.stop();

    // Expiry counts a restored session's offline time from the start.
    g = await startGateway({ gateway: { data_dir: join(data.path, 'disk') }, broker: { session_expiry_interval: '200ms' } });
    await until(() => g.gw.metrics.snapshot()['sessions/count'] === 0, 'the restored session to expire');
    const after = await reconnect(g.url);
    assert.equal(after.sessionPresent, false);
    assert.deepEqual(after.retained, ['state/x=kept'], 'retained messages do not expire with sessions');
    await g.stop();

    // memory: nothing survives.
    g = await startGateway({ gateway: { data_dir: join(data.path, 'mem') }, broker: { persistence: 'memory' } });
    await offlineSession(g.url);
    await g.stop();
    g = await startGateway({ gateway: { data_dir: join(data.path, 'mem') }, broker: { persistence: 'memory' } });
    assert.deepEqual(await reconnect(g.url), { sessionPresent: false, got: [], retained: [] });
    await g.stop();
  } finally {
    data.remove();
  }
});
