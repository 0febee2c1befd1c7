import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo } from 'node:net';
import { test } from 'node:test';
import { bindServer, ListenerError, listenerErrorLog } from './listen.ts';

test('a taken port is a ListenerError naming the listener, the address, the reason and the setting', async () => {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const port = (holder.address() as AddressInfo).port;
  try {
    const server = createServer();
    const err = await bindServer(server, { what: 'test listener', host: '127.0.0.1', port, option: 'x.port', onError: () => {} }).catch((e: unknown) => e);
    assert.ok(err instanceof ListenerError);
    assert.equal(err.message, `cannot start the test listener on 127.0.0.1:${port}: address already in use (another process holds it); change x.port`);
  } finally {
    holder.close();
  }
});

test("an 'error' after the bind (EMFILE on accept) reaches onError, is logged once a minute, and the server keeps listening", async () => {
  const lines: string[] = [];
  const log = listenerErrorLog((_f, m) => lines.push(m));
  const server = createServer((s) => s.end('hi'));
  const port = await bindServer(server, { what: 'test listener', host: '127.0.0.1', port: 0, option: 'x.port', onError: (err) => log('test listener', err) });
  try {
    // What libuv reports when accept() fails for lack of descriptors (the real thing runs in
    // gateway/broker/listeners.test.ts under a low `ulimit -n`).
    for (let i = 0; i < 50; i++) server.emit('error', Object.assign(new Error('accept EMFILE'), { code: 'EMFILE', syscall: 'accept' }));
    assert.deepEqual(lines, ['test listener: cannot accept a connection, out of file descriptors (raise LimitNOFILE or lower the connection limits); still listening']);
    const got = await new Promise<string>((resolve, reject) => {
      const c = connect(port, '127.0.0.1');
      let data = '';
      c.on('data', (d) => (data += d));
      c.on('end', () => resolve(data));
      c.on('error', reject);
    });
    assert.equal(got, 'hi');
  } finally {
    server.close();
  }
});
