import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { buildSchema } from '../app/config.ts';
import { Gateway } from '../app/gateway.ts';
import { validateConfig } from '../config/load.ts';
import { connect, endClient, tempDir, until } from '../test/helpers.ts';
import { createLogger } from './logger.ts';

/** A gateway whose log lines are captured, with `log` merged into its config. */
async function gatewayWithLog(log: Record<string, unknown>) {
  const dir = tempDir();
  const config = validateConfig(buildSchema([]), { gateway: { data_dir: dir.path }, broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, log, http: { enabled: false } }, 'test');
  const out = new PassThrough();
  const lines: { msg: string; component?: string }[] = [];
  out.on('data', (b: Buffer) => {
    for (const l of b.toString().split('\n')) if (l) lines.push(JSON.parse(l) as { msg: string });
  });
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: config.log.level, format: 'json', destination: out }) });
  await gw.start();
  return { gw, lines, url: `mqtt://127.0.0.1:${gw.broker.ports.tcp}`, stop: async () => { await gw.stop(); dir.remove(); } };
}

test('one line per client connect and disconnect, like Mosquitto; log.clients: warn turns them off', async () => {
  const g = await gatewayWithLog({ level: 'info' });
  try {
    const c = await connect(g.url, { clientId: 'sensor-7', keepalive: 45 });
    await until(() => g.lines.some((l) => l.msg.startsWith('New client connected')), 'the connect line');
    const line = g.lines.find((l) => l.msg.startsWith('New client connected'))!;
    // The client's own ip:port, as Mosquitto prints it (not the listener's port).
    const own = (c.stream as { localPort?: number }).localPort;
    assert.equal(line.msg, `New client connected from 127.0.0.1:${own} as sensor-7 (p4, c1, k45)`);
    assert.equal(line.component, 'clients');
    await endClient(c);
    await until(() => g.lines.some((l) => l.msg === 'Client sensor-7 disconnected: normal'), 'the disconnect line');
  } finally {
    await g.stop();
  }

  const quiet = await gatewayWithLog({ level: 'info', clients: 'warn' });
  try {
    const c = await connect(quiet.url, { clientId: 'sensor-8' });
    await endClient(c);
    // The $SYS event is the positive control: the disconnect happened and was processed.
    const mon = await connect(quiet.url);
    const events: string[] = [];
    mon.on('message', (t) => events.push(t));
    await mon.subscribeAsync('$SYS/brokers/+/clients/+/connected');
    const d = await connect(quiet.url, { clientId: 'sensor-9' });
    await until(() => events.some((t) => t.includes('sensor-9')), 'the $SYS connect event');
    await endClient(d);
    await endClient(mon);
    assert.deepEqual(quiet.lines.filter((l) => l.component === 'clients'), []);
  } finally {
    await quiet.stop();
  }
});
