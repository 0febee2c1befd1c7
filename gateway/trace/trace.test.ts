import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { describe, test } from 'node:test';
import { connect, until } from '../test/helpers.ts';
import { json, startApiGateway } from '../http/test/support.ts';

describe('trace', () => {
  test("a clientid trace records the client's packets both ways, decoded, with timestamps", async () => {
    const g = await startApiGateway();
    try {
      const call = (method: string, path: string, body?: unknown) => fetch(`${g.api}${path}`, { method, headers: { authorization: g.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const started = await call('POST', '/api/v5/trace', { name: 'tr1', type: 'clientid', clientid: 'tr-client', duration: '1m' });
      assert.equal(started.status, 200);
      const t = await json(started);
      assert.equal(t.status, 'running');
      assert.equal(t.clientid, 'tr-client');
      assert.equal((await call('POST', '/api/v5/trace', { name: 'tr1', type: 'topic', topic: 'x' })).status, 409);
      assert.equal((await json(await call('POST', '/api/v5/trace', { name: 'tr1b', type: 'clientid', clientid: 'tr-client' }))).code, 'DUPLICATE_CONDITION');

      const other = await connect(g.url, { clientId: 'not-traced' });
      const c = await connect(g.url, { clientId: 'tr-client', keepalive: 20 });
      await c.subscribeAsync('tr/#', { qos: 1 });
      const got = new Promise<void>((r) => c.once('message', () => r()));
      await c.publishAsync('tr/x', 'hello', { qos: 1 });
      await other.publishAsync('elsewhere', 'not in the trace', { qos: 1 });
      await got;
      await c.endAsync();
      await other.endAsync();
      const file = t.file as string;
      await until(() => readFileSync(file, 'utf8').includes('disconnected: reason=normal'), 'the disconnect traced');
      assert.equal((await json(await call('PUT', '/api/v5/trace/tr1/stop'))).enable, false);
      const text = readFileSync(file, 'utf8');
      const lines = text.trim().split('\n');
      for (const l of lines) assert.match(l, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \[tr-client@127\.0\.0\.1\] /, l);
      const want = [
        /connected: ProtoName=MQTT, ProtoVer=4, Username=undefined, KeepAlive=20, CleanStart=true/,
        /IN SUBSCRIBE\(Q1, R0, D0, PacketId=\d+, TopicFilters=\[tr\/#\(Q1\)\]\)/,
        /OUT SUBACK\(Q0, R0, D0, PacketId=\d+, ReasonCodes=\[1\]\)/,
        /IN PUBLISH\(Q1, R0, D0, Topic=tr\/x, PacketId=\d+, Payload="hello"\)/,
        /OUT PUBACK\(Q0, R0, D0, PacketId=\d+\)/,
        /OUT PUBLISH\(Q1, R0, D0, Topic=tr\/x, PacketId=\d+, Payload="hello"\)/,
        /IN DISCONNECT/,
        /disconnected: reason=normal/,
      ];
      let at = -1;
      for (const re of want) {
        const i = lines.findIndex((l, k) => k > at && re.test(l));
        assert.ok(i > at, `expected ${re} after line ${at} in:\n${text}`);
        at = i;
      }
      assert.doesNotMatch(text, /not in the trace/);
      const log = await json(await call('GET', '/api/v5/trace/tr1/log?position=0&bytes=100000'));
      assert.equal(log.items, text);
      assert.equal(log.meta.position, Buffer.byteLength(text));
      const list = await json(await call('GET', '/api/v5/trace'));
      assert.equal(list[0].status, 'stopped');
      assert.equal(Object.values(list[0].log_size)[0], statSync(file).size);
      assert.equal((await call('DELETE', '/api/v5/trace/tr1')).status, 204);
      assert.throws(() => statSync(file), /ENOENT/);
    } finally {
      await g.stop();
    }
  });

  test('a topic trace records messages from any source on the filter, up to max_file_size', async () => {
    const g = await startApiGateway({ http: { trace: { max_file_size: '2KB' } } });
    try {
      const call = (method: string, path: string, body?: unknown) => fetch(`${g.api}${path}`, { method, headers: { authorization: g.auth, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      const t = await json(await call('POST', '/api/v5/trace', { name: 'top', type: 'topic', topic: 'tt/+', payload_encode: 'hex' }));
      const c = await connect(g.url, { clientId: 'tt-pub' });
      await c.publishAsync('tt/a', 'AB', { qos: 1 });
      assert.equal((await call('POST', '/api/v5/publish', { topic: 'tt/b', payload: 'CD' })).status, 202);
      await c.publishAsync('other/a', 'no', { qos: 1 });
      await until(() => readFileSync(t.file, 'utf8').includes('Topic=tt/b'), 'the API publish traced');
      const text = readFileSync(t.file, 'utf8');
      assert.match(text, /\[topic tt\/\+\] PUBLISH\(Q1, R0, Topic=tt\/a, Payload=4142\)/);
      assert.match(text, /PUBLISH\(Q0, R0, Topic=tt\/b, Payload=4344\)/);
      assert.doesNotMatch(text, /other\/a/);
      for (let i = 0; i < 60; i++) await c.publishAsync('tt/a', 'x'.repeat(40), { qos: 1 });
      await until(async () => (await json(await call('GET', '/api/v5/trace')))[0].skipped > 0, 'the bound reached');
      assert.equal((await call('PUT', '/api/v5/trace/top/stop')).status, 200);
      const size = statSync(t.file).size;
      assert.ok(size <= 2048 + 200, `file ${size} bytes, bound 2048 (+ the closing line)`);
      assert.match(readFileSync(t.file, 'utf8'), /more lines not written: the file reached http\.trace\.max_file_size\n$/);
      await c.endAsync();
    } finally {
      await g.stop();
    }
  });
});
