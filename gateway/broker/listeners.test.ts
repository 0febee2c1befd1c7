import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { connect as tcpConnect, createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { testConfigYaml } from '../../hw-test/config.ts';
import { Writable } from 'node:stream';
import { buildSchema } from '../app/config.ts';
import { AuthService } from '../auth/service.ts';
import { validateConfig } from '../config/load.ts';
import { Ingress } from '../core/ingress.ts';
import { createLogger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { fieldgate, finished, started } from '../test/cli.ts';
import { collect, connect, endClient, tempDir, until } from '../test/helpers.ts';
import { Broker } from './broker.ts';

// Issue 11 item 6: listener errors never crash the gateway, at start (a taken port) or after it
// (accept failing for lack of file descriptors).

const MAIN = fileURLToPath(new URL('../cli/main.ts', import.meta.url));

test('a WebSocket listener on a taken port is the one clear startup line, exit 1 (was an uncaught EADDRINUSE)', async () => {
  const dir = tempDir();
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const port = (holder.address() as AddressInfo).port;
  try {
    const file = join(dir.path, 'ws.yaml');
    writeFileSync(file, testConfigYaml(join(dir.path, 'data')).replace('broker:\n  listeners:\n', `broker:\n  listeners:\n    ws:\n      enabled: true\n      host: 127.0.0.1\n      port: ${port}\n`));
    const run = await fieldgate(['start', '--config', file]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const fatal = run.stdout.split('\n').filter((l) => l.includes('cannot start'));
    assert.equal(fatal.length, 1, run.stdout + run.stderr);
    assert.match(fatal[0]!, new RegExp(`cannot start the MQTT WebSocket listener on 127\\.0\\.0\\.1:${port}: address already in use.*broker\\.listeners\\.ws\\.port`));
    assert.doesNotMatch(run.stderr, /Uncaught|EADDRINUSE\n\s+at /);
  } finally {
    holder.close();
    dir.remove();
  }
});

test("an 'error' on a bound listener (what Node emits when accept fails) is logged once per listener and code, and the broker keeps serving", async () => {
  const lines: { level: number; msg: string }[] = [];
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const config = validateConfig(buildSchema([]), { broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 }, ws: { enabled: true, host: '127.0.0.1', port: 0 } } } }, 'test');
  const broker = new Broker({ cfg: config.broker, auth: new AuthService(config.auth), ingress: new Ingress(), metrics: new Metrics(), log: createLogger({ level: 'info', format: 'json', destination: dest }) });
  const listeners = await broker.start();
  try {
    assert.equal(listeners.length, 2);
    for (let i = 0; i < 30; i++) {
      for (const l of listeners) {
        l.server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
        l.server.emit('error', Object.assign(new Error('accept ENOBUFS'), { code: 'ENOBUFS', syscall: 'accept' }));
      }
    }
    const errors = lines.filter((l) => l.level >= 50).map((l) => l.msg);
    assert.deepEqual(errors.sort(), [
      `MQTT TCP listener on 127.0.0.1:${broker.ports.tcp}: cannot accept a connection, out of file descriptors (raise LimitNOFILE or lower the connection limits); still listening`,
      `MQTT TCP listener on 127.0.0.1:${broker.ports.tcp}: error (ENOBUFS); still listening`,
      `MQTT WebSocket listener on 127.0.0.1:${broker.ports.ws}: cannot accept a connection, out of file descriptors (raise LimitNOFILE or lower the connection limits); still listening`,
      `MQTT WebSocket listener on 127.0.0.1:${broker.ports.ws}: error (ENOBUFS); still listening`,
    ]);
    const sub = await connect(`ws://127.0.0.1:${broker.ports.ws}/mqtt`);
    await sub.subscribeAsync('err/t', { qos: 1 });
    const got = collect(sub, 1);
    const pub = await connect(`mqtt://127.0.0.1:${broker.ports.tcp}`);
    await pub.publishAsync('err/t', 'served', { qos: 1 });
    assert.equal((await got)[0]!.payload, 'served');
    await Promise.all([endClient(sub), endClient(pub)]);
  } finally {
    await broker.stopAccepting();
    await broker.stop();
  }
});

test('out of file descriptors for real (libuv accepts and drops what it cannot keep): the gateway survives and serves again', { skip: process.platform !== 'linux' && 'needs /proc and ulimit' }, async () => {
  const dir = tempDir();
  const file = join(dir.path, 'fd.yaml');
  writeFileSync(file, testConfigYaml(join(dir.path, 'data')));
  const LIMIT = 256;
  // The real gateway under a low descriptor limit, as `LimitNOFILE` would set it.
  const child = spawn('sh', ['-c', `ulimit -n ${LIMIT} && exec "$0" "$@"`, process.execPath, '--import', 'tsx', MAIN, 'start', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] }) as ReturnType<typeof spawn> & { output: { stdout: string; stderr: string } };
  child.output = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (child.output.stdout += d));
  child.stderr!.on('data', (d) => (child.output.stderr += d));
  const sockets: Socket[] = [];
  try {
    const [url] = await started(child);
    const port = Number(url!.split(':').pop());
    const inUse = readdirSync(`/proc/${child.pid}/fd`).length;
    // Enough connections to use every descriptor left, and then some that accept() must refuse.
    for (let i = 0; i < LIMIT - inUse + 40; i++) {
      const s = tcpConnect(port, '127.0.0.1');
      s.on('error', () => {});
      sockets.push(s);
    }
    await until(() => readdirSync(`/proc/${child.pid}/fd`).length >= LIMIT, `the gateway to use all ${LIMIT} descriptors`);
    assert.equal(child.exitCode, null, `the gateway exited: ${child.output.stderr}`);
    for (const s of sockets) s.destroy();
    sockets.length = 0;
    // Descriptors free again: a client is served as before.
    const c = await connect(url!.replace('tcp://', 'mqtt://'));
    await c.subscribeAsync('fd/t', { qos: 1 });
    const got = collect(c, 1);
    await c.publishAsync('fd/t', 'served', { qos: 1 });
    assert.equal((await got)[0]!.payload, 'served');
    await endClient(c);
    child.kill('SIGTERM');
    const run = await finished(child);
    assert.equal(run.code, 0, run.stderr);
  } finally {
    for (const s of sockets) s.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    dir.remove();
  }
});
