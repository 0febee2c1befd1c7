import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { MqttClient } from 'mqtt';
import { hashPassword } from '../../gateway/auth/password.ts';
import { collect, connect, endClient, tempDir, until } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { ConnackError, TcpDevice } from '../../firmware-sim/tcp/client.ts';
import { encodeConnect, encodeData } from './codec.ts';
import { TCP_KEEPALIVE_MS } from './connection.ts';
import { RawDevice, hex, startTcpGateway, sysEvents, type TcpTestGateway } from './test-kit.ts';

const CONNECT_ABCD = '11 00 07 3c 00 04 61 62 63 64';
const CONNACK_OK = '20 00 14 43 6f 6e 6e 65 63 74 20 53 75 63 63 65 73 73 66 75 6c 6c 79';

describe('tcp adapter v1 over real TCP', () => {
  let g: TcpTestGateway;
  let sys: Awaited<ReturnType<typeof sysEvents>>;
  let mq: MqttClient;

  before(async () => {
    g = await startTcpGateway(
      { idle_timeout: '300ms', max_packet_size: 1024 },
      {
        auth: {
          users: [{ username: 'alice', password_hash: await hashPassword('secret') }],
          acl: [{ permission: 'deny', action: 'publish', clientid: 'muted', topics: ['tcp/muted/up'] }],
        },
      },
    );
    sys = await sysEvents(g.url);
    mq = await connect(g.url);
    await mq.subscribeAsync('tcp/#');
  });
  after(async () => {
    await endClient(sys.client);
    await endClient(mq);
    await g.stop();
  });

  const reasonOf = (clientid: string) => sys.events.find((e) => e.event === 'disconnected' && e.clientid === clientid)?.reason;

  test('EMQX vectors byte for byte: CONNECT, CONNACK, DATATRANS both ways, PING/PONG, DISCONNECT', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write(CONNECT_ABCD);
    assert.deepEqual(await d.read(23), hex(CONNACK_OK));
    await until(() => sys.events.some((e) => e.event === 'connected' && e.clientid === 'abcd'), '$SYS connected');
    const conn = sys.events.find((e) => e.event === 'connected' && e.clientid === 'abcd');
    assert.equal(conn?.proto_name, 'tcp');
    assert.equal(conn?.proto_ver, 1);
    assert.equal(conn?.keepalive, 60);

    const up = collect(mq, 1);
    d.write('30 00 04 61 62 63 64');
    assert.deepEqual(await up, [{ topic: 'tcp/abcd/up', payload: 'abcd' }]);

    await mq.publishAsync('tcp/abcd/dn', 'abcd');
    assert.deepEqual(await d.read(7), hex('30 00 04 61 62 63 64'));

    d.write('40');
    assert.deepEqual(await d.read(1), hex('50'));

    d.write('60');
    await d.closedWithin();
    await until(() => reasonOf('abcd') === 'normal', '$SYS disconnected normal');
    assert.equal(g.metric('closed/normal'), 1);
  });

  test('split and coalesced frames (sticky packets)', async () => {
    const d = await RawDevice.open(g.tcpPort);
    const got = collect(mq, 4);
    // CONNECT and two DATATRANS in one write...
    d.write(Buffer.concat([encodeConnect({ keepalive: 60, clientid: 'sticky' }), encodeData(Buffer.from('m1')), encodeData(Buffer.from('m2'))]));
    await d.read(23);
    // ...then two frames dribbled a byte at a time, split across header, length and payload.
    const rest = Buffer.concat([encodeData(Buffer.from('m3')), encodeData(Buffer.alloc(300, 0x41))]);
    for (const b of rest) {
      d.write(Buffer.from([b]));
      await new Promise((r) => setImmediate(r));
    }
    const msgs = await got;
    assert.deepEqual(msgs.slice(0, 3).map((m) => m.payload), ['m1', 'm2', 'm3']);
    assert.equal(msgs[3]!.payload, 'A'.repeat(300));
    d.destroy();
    await until(() => reasonOf('sticky') === 'tcp_closed', '$SYS disconnected tcp_closed');
  });

  test('a flood is paced by TCP flow control, not buffered: every frame handled, in order', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write(encodeConnect({ keepalive: 60, clientid: 'flood' }));
    await d.read(23);
    // 20,000 PINGs in one write: far more frames than one connection may queue.
    d.write(Buffer.alloc(20_000, 0x40));
    assert.deepEqual(await d.read(20_000, 10_000), Buffer.alloc(20_000, 0x50));
    const got = collect(mq, 500, 20_000);
    const frames = Array.from({ length: 500 }, (_, i) => encodeData(Buffer.concat([Buffer.from(`${i}:`), Buffer.alloc(1000, 0x2e)])));
    d.write(Buffer.concat(frames));
    const msgs = await got;
    assert.deepEqual(msgs.map((m) => Number(m.payload.split(':')[0])), Array.from({ length: 500 }, (_, i) => i));
    d.write('60');
    await d.closedWithin();
  });

  test('the first frame must be CONNECT (protocol_not_connected)', async () => {
    const before = g.metric('closed/protocol_not_connected');
    const d = await RawDevice.open(g.tcpPort);
    d.write('30 00 01 61');
    await d.closedWithin();
    assert.equal(g.metric('closed/protocol_not_connected'), before + 1);
  });

  test('a second CONNECT closes (protocol_has_connected)', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write(encodeConnect({ keepalive: 60, clientid: 'twice' }));
    await d.read(23);
    d.write(encodeConnect({ keepalive: 60, clientid: 'twice' }));
    await d.closedWithin();
    await until(() => reasonOf('twice') === 'protocol_has_connected', '$SYS reason protocol_has_connected');
  });

  test('no CONNECT within idle_timeout closes (idle_timeout)', async () => {
    const before = g.metric('closed/idle_timeout');
    const d = await RawDevice.open(g.tcpPort);
    await d.closedWithin(3000);
    assert.equal(g.metric('closed/idle_timeout'), before + 1);
  });

  test('no bytes within 1.5 x keepalive closes (keepalive_timeout); bytes keep it open', async () => {
    const quiet = await RawDevice.open(g.tcpPort);
    const chatty = await RawDevice.open(g.tcpPort);
    quiet.write(encodeConnect({ keepalive: 1, clientid: 'quiet' }));
    chatty.write(encodeConnect({ keepalive: 1, clientid: 'chatty' }));
    await Promise.all([quiet.read(23), chatty.read(23)]);
    let pings = 0;
    const pinger = setInterval(() => {
      chatty.write('40');
      pings++;
    }, 300);
    await quiet.closedWithin(4000);
    clearInterval(pinger);
    await until(() => reasonOf('quiet') === 'keepalive_timeout', '$SYS reason keepalive_timeout');
    // The one that kept talking is still connected: no disconnected event, and it still gets PONGs.
    assert.equal(reasonOf('chatty'), undefined);
    chatty.write('40');
    assert.deepEqual(await chatty.read(pings + 1), Buffer.alloc(pings + 1, 0x50));
    chatty.write('60');
    await chatty.closedWithin();
  });

  test('every connection has TCP keepalive on, so keepalive 0 cannot leave a half-open connection forever', async (t) => {
    const setKeepAlive = t.mock.method(Socket.prototype, 'setKeepAlive');
    const d = await RawDevice.open(g.tcpPort);
    d.write(encodeConnect({ keepalive: 0, clientid: 'no-keepalive' }));
    await d.read(23);
    const gatewaySide = setKeepAlive.mock.calls.filter((c) => (c.this as Socket).localPort === g.tcpPort && (c.this as Socket).remotePort === d.socket.localPort);
    assert.deepEqual(gatewaySide.map((c) => c.arguments), [[true, TCP_KEEPALIVE_MS]]);
    assert.ok(TCP_KEEPALIVE_MS > 0);
    d.write('60');
    await d.closedWithin();
  });

  test('garbage after CONNECT closes with parse_error; an oversize frame with frame_too_large', async () => {
    const bystander = new TcpDevice({ port: g.tcpPort, clientid: 'bystander' });
    await bystander.connect();
    const junk = await RawDevice.open(g.tcpPort);
    junk.write(Buffer.concat([encodeConnect({ keepalive: 60, clientid: 'junk' }), hex('f3 00 01 02')]));
    await junk.closedWithin();
    const big = await RawDevice.open(g.tcpPort);
    big.write(Buffer.concat([encodeConnect({ keepalive: 60, clientid: 'big' }), hex('30 04 01')]));
    await big.closedWithin();
    await until(() => reasonOf('junk') === 'parse_error' && reasonOf('big') === 'frame_too_large', '$SYS reasons parse_error, frame_too_large');
    assert.ok(g.metric('closed/parse_error') >= 1);
    assert.ok(g.metric('closed/frame_too_large') >= 1);
    // Everyone else is unaffected.
    const got = collect(mq, 1);
    bystander.send('still here');
    assert.deepEqual(await got, [{ topic: 'tcp/bystander/up', payload: 'still here' }]);
    await bystander.disconnect();
  });

  test('an unknown version gets CONNACK 2 and is closed (not_supported_version)', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write('13 00 07 3c 00 04 61 62 63 64');
    const ack = await d.read(3);
    assert.equal(ack[0], 0x22);
    await d.read(ack.readUInt16BE(1));
    await d.closedWithin();
    assert.equal(g.metric('closed/not_supported_version'), 1);
  });

  test('a client id that cannot be a topic level gets CONNACK 3 (invalid_clientid)', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write(encodeConnect({ keepalive: 60, clientid: 'a+b' }));
    const ack = await d.read(3);
    assert.equal(ack[0], 0x23);
    assert.equal((await d.read(ack.readUInt16BE(1))).toString(), 'Client Identifier Not Valid');
    await d.closedWithin();
    assert.equal(g.metric('closed/invalid_clientid'), 1);
  });

  test('auth: wrong password gets CONNACK 1 "Authentication Failure"; the right one connects', async () => {
    const d = await RawDevice.open(g.tcpPort);
    d.write(encodeConnect({ keepalive: 60, clientid: 'a1', username: 'alice', password: 'wrong' }));
    assert.deepEqual(await d.read(25), Buffer.concat([hex('21 00 16'), Buffer.from('Authentication Failure')]));
    await d.closedWithin();
    assert.equal(g.metric('closed/bad_username_or_password'), 1);
    await assert.rejects(new TcpDevice({ port: g.tcpPort, clientid: 'a2', username: 'alice', password: 'nope' }).connect(), (e: ConnackError) => e.code === 1);
    const ok = new TcpDevice({ port: g.tcpPort, clientid: 'a3', username: 'alice', password: 'secret' });
    await ok.connect();
    await ok.disconnect();
  });

  test('an ACL-denied uplink is dropped and counted; the connection stays', async () => {
    const dev = new TcpDevice({ port: g.tcpPort, clientid: 'muted' });
    await dev.connect();
    dev.send('nobody hears this');
    await until(() => g.metric('messages/dropped/not_authorized') === 1, 'denied publish counted');
    dev.ping();
    await new Promise((r) => dev.once('pong', r));
    await dev.disconnect();
  });

  test('a second connection with the same client id takes it over (discarded)', async () => {
    const first = new TcpDevice({ port: g.tcpPort, clientid: 'dup-id' });
    await first.connect();
    const firstClosed = new Promise((r) => first.once('close', r));
    const second = new TcpDevice({ port: g.tcpPort, clientid: 'dup-id' });
    await second.connect();
    await firstClosed;
    await until(() => reasonOf('dup-id') === 'discarded', '$SYS reason discarded');
    await mq.publishAsync('tcp/dup-id/dn', 'to the new one');
    const [m] = await new Promise<{ data: Buffer }[]>((r) => second.once('message', (x) => r([x])));
    assert.equal(m!.data.toString(), 'to the new one');
    await second.disconnect();
  });

  test('stopping the gateway closes devices with server_shutting_down', async () => {
    const sg = await startTcpGateway();
    const dev = new TcpDevice({ port: sg.tcpPort, clientid: 'shutdown' });
    await dev.connect();
    const closed = new Promise((r) => dev.once('close', r));
    await sg.stop();
    await closed;
    assert.equal(sg.metric('closed/server_shutting_down'), 1);
  });

  test('TLS listener', async (t) => {
    const skip = missingTool('openssl', 'openssl');
    if (skip) return t.skip(skip);
    const dir = tempDir('fieldgate-tcp-tls-');
    try {
      const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir.path, 'key.pem'), '-out', join(dir.path, 'cert.pem')], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const tg = await startTcpGateway({ tls: { enabled: true, port: 0, cert_file: join(dir.path, 'cert.pem'), key_file: join(dir.path, 'key.pem') } });
      try {
        const tlsPort = tg.gw.adapterPorts('tcp').tls ?? 0;
        assert.ok(tlsPort > 0);
        const sub = await connect(tg.url);
        await sub.subscribeAsync('tcp/+/up');
        const got = collect(sub, 1);
        const dev = new TcpDevice({ port: tlsPort, clientid: 'secure', tls: { ca: readFileSync(join(dir.path, 'cert.pem')), servername: 'localhost' } });
        await dev.connect();
        dev.send('over tls');
        assert.deepEqual(await got, [{ topic: 'tcp/secure/up', payload: 'over tls' }]);
        await dev.disconnect();
        await endClient(sub);
      } finally {
        await tg.stop();
      }
    } finally {
      dir.remove();
    }
  });
});
