import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { until } from '../test/helpers.ts';
import { coalesceWrites } from './write-coalescer.ts';

// A real loopback TCP connection: what the peer receives, in what order, and in how many writes.

async function pair(): Promise<{ client: Socket; received: () => Buffer; peerClosed: () => boolean; close: () => Promise<void> }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const chunks: Buffer[] = [];
  let peer: Socket | undefined;
  let peerClosed = false;
  server.on('connection', (s) => {
    peer = s;
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('close', () => (peerClosed = true));
  });
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(client, 'connect');
  await until(() => peer !== undefined, 'server side of the connection');
  return {
    client,
    received: () => Buffer.concat(chunks),
    peerClosed: () => peerClosed,
    close: async () => {
      client.destroy();
      peer?.destroy();
      server.close();
      await once(server, 'close');
    },
  };
}

describe('coalesceWrites', () => {
  it('sends many small writes of one turn as one socket write, in order, strings and buffers alike', async () => {
    const p = await pair();
    try {
      const writes: number[] = [];
      const original = p.client.write.bind(p.client);
      p.client.write = ((chunk: Buffer, ...rest: never[]) => {
        writes.push(chunk.length);
        return original(chunk, ...rest);
      }) as typeof p.client.write;
      coalesceWrites(p.client);
      const parts: Buffer[] = [];
      for (let i = 0; i < 500; i++) {
        assert.equal(p.client.write(Buffer.from([0x30, i & 0xff])), true);
        assert.equal(p.client.write(`topic/${i}/é`), true);
        parts.push(Buffer.from([0x30, i & 0xff]), Buffer.from(`topic/${i}/é`));
      }
      const want = Buffer.concat(parts);
      await until(() => p.received().length >= want.length, 'all bytes at the peer');
      assert.deepEqual(p.received(), want);
      assert.equal(writes.length, 1, `one socket write, not ${writes.length}`);
    } finally {
      await p.close();
    }
  });

  it('keeps the order around a write with a callback, a large chunk, and end()', async () => {
    const p = await pair();
    try {
      coalesceWrites(p.client);
      const big = Buffer.alloc(100_000, 0x62);
      let called = false;
      p.client.write('a');
      p.client.write(Buffer.from('b'), () => (called = true));
      p.client.write('c');
      p.client.write(big);
      p.client.write('d');
      // More than one slab of small writes in one turn.
      for (let i = 0; i < 20_000; i++) p.client.write('0123456789');
      p.client.end('e');
      const want = Buffer.concat([Buffer.from('abc'), big, Buffer.from('d'), Buffer.alloc(200_000, '0123456789'), Buffer.from('e')]);
      await until(() => p.received().length >= want.length, 'all bytes at the peer');
      assert.ok(p.received().equals(want), 'same bytes in the same order');
      assert.equal(called, true);
    } finally {
      await p.close();
    }
  });

  it('drops what is pending when the socket is destroyed: nothing is handed to the destroyed socket, nothing reaches the peer', async () => {
    const p = await pair();
    try {
      // The socket's own write(), as the coalescer sees it: what it hands over, and when.
      const handed: string[] = [];
      const original = p.client.write.bind(p.client);
      p.client.write = ((chunk: Buffer, ...rest: never[]) => {
        handed.push(`${String(chunk)}${p.client.destroyed ? ' (destroyed)' : ''}`);
        return original(chunk, ...rest);
      }) as typeof p.client.write;
      coalesceWrites(p.client);
      const errors: Error[] = [];
      p.client.on('error', (e) => errors.push(e));
      p.client.write('lost');
      p.client.destroy();
      // The flush queued by the write runs before the socket's 'close'.
      await once(p.client, 'close');
      await until(() => p.peerClosed(), 'the peer sees the connection closed');
      // Node ignores a write to a destroyed socket silently, so only the hand-over shows a flush
      // that does not check for destroy.
      assert.deepEqual(handed, []);
      assert.equal(p.received().length, 0);
      assert.deepEqual(errors, []);
    } finally {
      await p.close();
    }
  });
});
