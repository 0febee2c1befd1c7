// The upstream's "connected" lines: the first connection of a run says "connected" (naming the
// failed attempts before it), and only a connection after an earlier one in the same run says
// "connected again".
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import pino from 'pino';
import { until } from '../test/helpers.ts';
import { upstreamSchema } from './config.ts';
import { FakeCloud } from './test/fake-cloud.ts';
import { UpstreamLink } from './upstream.ts';

/** A port nobody listens on (bound, then closed): connecting to it is refused. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

test('"connected" after failed attempts on the first connect; "connected again" only after an earlier connect', async () => {
  const cloud = await FakeCloud.start((p) => (p.topic === 'drop' ? 'close' : 0));
  const msgs: string[] = [];
  const log = pino({ level: 'info' }, new Writable({ write: (c: Buffer, _e, cb) => (msgs.push((JSON.parse(c.toString()) as { msg: string }).msg), cb()) }));
  const dead = await closedPort();
  const cfg = upstreamSchema.parse({ name: 'c', servers: [`mqtt://127.0.0.1:${dead}`, `mqtt://127.0.0.1:${cloud.port}`], backoff: { initial: '10ms', max: '50ms' } });
  let reconnects = 0;
  const link = new UpstreamLink(cfg, { gatewayId: 'gw', prefix: 'fieldgate/gw', log, reconnects: { inc: () => void reconnects++, get value() { return reconnects; } } });
  const ups = () => msgs.filter((m) => /: connected/.test(m));
  try {
    link.start();
    await until(() => ups().length === 1, 'the first connect');
    assert.ok(msgs.some((m) => m.includes(`127.0.0.1:${dead}`)), 'the refused server was logged first');
    assert.equal(ups()[0], `upstream mqtt://127.0.0.1:${cloud.port}: connected (after failed attempts; the last one above)`);
    // The cloud drops the connection: the next connect in this run is "connected again".
    link.current!.publish('drop', 'x', { qos: 1 });
    await until(() => ups().length === 2, 'the reconnect');
    assert.equal(ups()[1], `upstream mqtt://127.0.0.1:${cloud.port}: connected again`);
    assert.ok(msgs.some((m) => /connection lost/.test(m)));
  } finally {
    await link.stop();
    await cloud.stop();
  }
});
