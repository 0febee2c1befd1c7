import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Client } from 'aedes';
import { startChild, stopChild } from '../test/cli.ts';
import { startGateway, tempDir } from '../test/helpers.ts';
import { DISCONNECT, PUBACK, PUBLISH, RawClient, latestClient, parsePublish, pubackPacket, publishPacket } from '../test/raw-mqtt.ts';

// A persistent subscriber (clean session 0) that acknowledged its QoS 1 messages before a clean
// stop must not get them again after the restart: the PUBACKs aedes read must be in the session
// store's journal when it closes. Over real TCP with a client written from the spec, for messages
// delivered live and from the offline queue, with the stop after the server closed the connection
// (it read the DISCONNECT after the PUBACKs), with the stop begun in the very tick the server reads
// the PUBACKs, and with SIGTERM to a gateway process.

const N = 20;
const ROUNDS = 2;

async function publishN(port: number): Promise<void> {
  const { client } = await RawClient.connect(port, { clientId: 'pub' });
  for (let i = 1; i <= N; i++) client.send(publishPacket('cmd/dev', `m${i}`, 1, i));
  for (let i = 1; i <= N; i++) await client.next(PUBACK);
  client.end();
  await client.waitClosed();
}

/** Subscribes (clean session 0), gets N messages live or, with `queued`, from its offline queue; returns the connection and the packet ids to acknowledge. */
async function deliverN(port: number, queued: boolean): Promise<{ sub: RawClient; ids: number[] }> {
  let { client: sub } = await RawClient.connect(port, { clientId: 'sub', clean: false });
  await sub.subscribe(1, [['cmd/#', 1]]);
  if (queued) {
    sub.end();
    await sub.waitClosed();
  }
  await publishN(port);
  if (queued) sub = (await RawClient.connect(port, { clientId: 'sub', clean: false })).client;
  const ids: number[] = [];
  while (ids.length < N) ids.push(parsePublish(await sub.next(PUBLISH)).id!);
  return { sub, ids };
}

/** After the restart: the session is back and the first message it gets is one published now. */
async function nothingComesBack(port: number, what: string): Promise<void> {
  const { client, sessionPresent } = await RawClient.connect(port, { clientId: 'sub', clean: false });
  assert.equal(sessionPresent, true, what);
  const { client: p } = await RawClient.connect(port, { clientId: 'pub2' });
  p.send(publishPacket('cmd/dev', 'marker', 1, 1));
  await p.next(PUBACK);
  p.end();
  const first = parsePublish(await client.next(PUBLISH));
  assert.equal(first.payload.toString(), 'marker', `${what}: an acknowledged message came back after a clean stop`);
  client.send(pubackPacket(first.id!));
  client.end();
  await client.waitClosed();
}

async function inProcess(mode: 'live' | 'queued' | 'stop-at-acks', round: number): Promise<void> {
  const data = tempDir('fieldgate-ack-stop-');
  const doc = { gateway: { data_dir: join(data.path, 'd') } };
  try {
    const g = await startGateway(doc);
    const subClient = latestClient(g.gw.broker.aedes, 'sub');
    const { sub, ids } = await deliverN(g.port, mode === 'queued');
    if (mode === 'stop-at-acks') {
      // The stop begins in the tick the server reads the PUBACKs, before aedes has parsed them.
      const conn = subClient()!.conn;
      const stopped = new Promise<void>((resolve, reject) => conn.once('data', () => void g.gw.stop().then(resolve, reject)));
      sub.send(Buffer.concat(ids.map(pubackPacket)));
      await stopped;
    } else {
      sub.send(Buffer.concat([...ids.map(pubackPacket), DISCONNECT]));
      await sub.waitClosed(); // the server read the DISCONNECT, so the PUBACKs before it too
      await g.gw.stop();
    }
    const again = await startGateway(doc);
    try {
      await nothingComesBack(again.port, `${mode}, round ${round}`);
    } finally {
      await again.gw.stop();
    }
  } finally {
    data.remove();
  }
}

for (const mode of ['live', 'queued', 'stop-at-acks'] as const) {
  test(`a persistent subscriber's PUBACKs survive gateway.stop(): ${mode}`, async () => {
    for (let round = 0; round < ROUNDS; round++) await inProcess(mode, round);
  });
}

test("a persistent subscriber's PUBACKs survive SIGTERM to the gateway process", async () => {
  const tmp = tempDir('fieldgate-ack-sigterm-');
  const config = join(tmp.path, 'fg.yaml');
  writeFileSync(config, `gateway:\n  data_dir: ${join(tmp.path, 'data')}\nlog:\n  format: json\n  level: info\nhttp:\n  enabled: false\nadapters:\n  coap:\n    enabled: false\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: 0\n`);
  let gw = await startChild(config);
  try {
    const port = () => Number(new URL(gw.url).port);
    const { sub, ids } = await deliverN(port(), true);
    sub.send(Buffer.concat([...ids.map(pubackPacket), DISCONNECT]));
    await sub.waitClosed();
    await stopChild(gw.child, 'SIGTERM');
    assert.equal(gw.child.exitCode, 0);
    gw = await startChild(config);
    await nothingComesBack(port(), 'SIGTERM');
  } finally {
    await stopChild(gw.child, 'SIGKILL');
    tmp.remove();
  }
});
