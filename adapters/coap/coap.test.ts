// The CoAP adapter over real UDP on 127.0.0.1, against the coap package's own agent and the
// firmware-sim client (libcoap's coap-client is in libcoap.test.ts).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Agent, request as coapRequest, type IncomingMessage } from 'coap';
import type { MqttClient } from 'mqtt';
import { connect, endClient, until } from '../../gateway/test/helpers.ts';
import { hashPassword } from '../../gateway/auth/password.ts';
import type { CoapResponse } from '../../firmware-sim/coap/client.ts';
import { fresher } from './observers.ts';
import { sleep, startCoap, type CoapGateway } from './test-support.ts';

interface Got {
  topic: string;
  payload: string;
  qos: number;
  retain: boolean;
}

async function mqttWatch(url: string, filter: string): Promise<{ c: MqttClient; got: Got[] }> {
  const c = await connect(url);
  const got: Got[] = [];
  c.on('message', (topic, payload, packet) => got.push({ topic, payload: payload.toString(), qos: packet.qos, retain: packet.retain }));
  await new Promise((r) => c.subscribe(filter, { qos: 1 }, r));
  return { c, got };
}

/** One request through node-coap's Agent (an independent client implementation). */
function agentRequest(agent: Agent, port: number, opts: { method: string; pathname: string; query?: string; payload?: string; confirmable?: boolean }): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = coapRequest({ hostname: '127.0.0.1', port, agent, method: opts.method as 'GET', pathname: opts.pathname, query: opts.query, confirmable: opts.confirmable ?? true });
    req.on('response', resolve);
    req.on('error', reject);
    req.end(opts.payload);
  });
}

describe('connectionless pub/sub (EMQX 5 /ps scheme)', () => {
  let g: CoapGateway;
  let agent: Agent;
  before(async () => {
    g = await startCoap({ mountpoint: 'coap/', limits: { notify_queue: 2 } }, { auth: { acl: [{ permission: 'deny', action: 'publish', topics: ['coap/secret/#'] }, { permission: 'deny', action: 'subscribe', topics: ['coap/private/#'] }] } });
    agent = new Agent({ type: 'udp4' });
  });
  after(async () => {
    agent.close();
    await g.stop();
  });

  test('publish: CON -> QoS 1, NON -> QoS 0, q= overrides, retain, mountpoint; 2.04 after acceptance', async () => {
    // (not coap/#: the ACL's subscribe deny for coap/private/# refuses a filter that could reach it)
    const { c, got } = await mqttWatch(g.url, 'coap/room/#');
    const con = await agentRequest(agent, g.coapPort, { method: 'POST', pathname: '/ps/room/1/temp', query: 'c=dev1', payload: '21.5' });
    assert.equal(con.code, '2.04');
    const non = await agentRequest(agent, g.coapPort, { method: 'POST', pathname: '/ps/room/1/temp', query: 'c=dev1', payload: 'non', confirmable: false });
    assert.equal(non.code, '2.04');
    const q0 = await agentRequest(agent, g.coapPort, { method: 'POST', pathname: '/ps/room/1/temp', query: 'clientid=dev1&qos=0', payload: 'q0' });
    assert.equal(q0.code, '2.04');
    await until(() => got.length === 3, 'three MQTT messages');
    assert.deepEqual(got.map((m) => [m.topic, m.payload, m.qos]), [['coap/room/1/temp', '21.5', 1], ['coap/room/1/temp', 'non', 0], ['coap/room/1/temp', 'q0', 0]]);
    const r = await agentRequest(agent, g.coapPort, { method: 'POST', pathname: '/ps/room/1/state', query: 'c=dev1&r=true', payload: 'on' });
    assert.equal(r.code, '2.04');
    const late = await mqttWatch(g.url, 'coap/room/1/state');
    await until(() => late.got.length === 1, 'the retained message');
    assert.equal(late.got[0]!.retain, true);
    assert.ok(g.gw.registry.get('coap', 'dev1'), 'the device is in the registry');
    await endClient(c);
    await endClient(late.c);
  });

  test('bad requests: empty topic and wildcard publish 4.00, unknown path 4.04, PUT on /ps 4.05, bad qos 4.00', async () => {
    const cl = await g.client();
    const code = async (method: 'GET' | 'POST' | 'PUT', path: string, query = {}) => (await cl.request({ method, path, query, payload: 'x' })).code;
    assert.equal(await code('POST', '/ps'), '4.00');
    assert.equal(await code('POST', '/ps/a/%2B'), '4.00');
    assert.equal(await code('POST', '/nothing/here'), '4.04');
    assert.equal(await code('PUT', '/ps/a'), '4.05');
    assert.equal(await code('POST', '/ps/a', { q: 7 }), '4.00');
    assert.equal(await code('GET', '/ps/a'), '4.00', 'GET without Observe');
    const wk = await cl.request({ method: 'GET', path: '/.well-known/core' });
    assert.equal(wk.code, '2.05');
    assert.match(wk.payload.toString(), /<\/ps>/);
  });

  test('ACL denial: publish and subscribe get 4.01 and nothing is delivered', async () => {
    const { c, got } = await mqttWatch(g.url, 'coap/secret/#');
    const cl = await g.client();
    assert.equal((await cl.request({ method: 'POST', path: '/ps/secret/x', query: { c: 'dev2' }, payload: 'leak' })).code, '4.01');
    assert.equal((await cl.request({ method: 'GET', path: '/ps/private/x', query: { c: 'dev2' }, observe: 0 })).code, '4.01');
    assert.equal(g.metric('observers'), 0);
    await sleep(100);
    assert.equal(got.length, 0);
    // The watcher does receive what is allowed, so the silence above means something.
    await new Promise((r) => c.subscribe('coap/ctl', r));
    assert.equal((await cl.request({ method: 'POST', path: '/ps/ctl', query: { c: 'dev2' }, payload: 'fine' })).code, '2.04');
    await until(() => got.length === 1, 'control message');
    await endClient(c);
  });

  test('observe: 2.05 with Observe, notifications with the token and increasing Observe, NON/CON by QoS, cancel 2.07', async () => {
    const cl = await g.client();
    const token = cl.nextToken();
    const reg = await cl.request({ method: 'GET', path: '/ps/cmd/%2B', query: { c: 'obs1' }, observe: 0, token });
    assert.equal(reg.code, '2.05');
    assert.ok(reg.observe !== undefined, 'the registration response carries Observe');
    const notes: CoapResponse[] = [];
    cl.on('notification', (n: CoapResponse) => notes.push(n));
    const pub = await connect(g.url);
    pub.publish('coap/cmd/a', 'zero', { qos: 0 });
    await until(() => notes.length === 1, 'QoS 0 notification');
    pub.publish('coap/cmd/b', 'one', { qos: 1 });
    await until(() => notes.length === 2, 'QoS 1 notification');
    assert.deepEqual(notes.map((n) => [n.code, n.payload.toString(), n.type]), [['2.05', 'zero', 'NON'], ['2.05', 'one', 'CON']]);
    assert.ok(notes.every((n) => n.token.equals(token)));
    // Observe values are 24 bits and wrap: compare them as RFC 7641 3.4 says, not as numbers.
    assert.ok(fresher(reg.observe!, notes[0]!.observe!) && fresher(notes[0]!.observe!, notes[1]!.observe!));
    // A second observer of the same topic is the positive control for the silence below.
    const other = await g.client();
    const otherNotes: CoapResponse[] = [];
    other.on('notification', (n: CoapResponse) => otherNotes.push(n));
    assert.equal((await other.request({ method: 'GET', path: '/ps/cmd/%2B', query: { c: 'obs2' }, observe: 0 })).code, '2.05');
    const cancel = await cl.request({ method: 'GET', path: '/ps/cmd/%2B', query: { c: 'obs1' }, observe: 1 });
    assert.equal(cancel.code, '2.07');
    await until(() => g.metric('observers') === 1, 'observer removed');
    pub.publish('coap/cmd/c', 'after', { qos: 0 });
    await until(() => otherNotes.some((n) => n.payload.toString() === 'after'), 'the other observer is notified');
    await sleep(50);
    assert.equal(notes.length, 2, 'the cancelled observation got nothing');
    await other.request({ method: 'GET', path: '/ps/cmd/%2B', query: { c: 'obs2' }, observe: 1 });
    await endClient(pub);
  });

  test('observe via the coap package agent, and RST to a notification cancels it', async () => {
    const res = await new Promise<IncomingMessage & { close(): void }>((resolve, reject) => {
      const req = coapRequest({ hostname: '127.0.0.1', port: g.coapPort, agent, method: 'GET', pathname: '/ps/agent/topic', query: 'c=agent1', observe: true });
      req.on('response', resolve);
      req.on('error', reject);
      req.end();
    });
    assert.equal(res.code, '2.05');
    const data: string[] = [];
    res.on('data', (d: Buffer) => data.push(d.toString()));
    const pub = await connect(g.url);
    pub.publish('coap/agent/topic', 'hello-agent', { qos: 1 });
    await until(() => data.includes('hello-agent'), 'notification through the agent');
    await endClient(pub);
    res.close();

    // A client that answers a notification with RST (it forgot the observation).
    const cl = await g.client();
    await cl.request({ method: 'GET', path: '/ps/rst/me', query: { c: 'rst1' }, observe: 0, token: Buffer.from('tok1') });
    cl.forget(Buffer.from('tok1'));
    const before = g.metric('observers/cancelled');
    const pub2 = await connect(g.url);
    pub2.publish('coap/rst/me', 'x', { qos: 1 });
    await until(() => g.metric('observers/cancelled') === before + 1, 'observation cancelled by RST');
    await endClient(pub2);
  });

  test('flow control: one unacknowledged CON notification at a time, queue bounded, oldest dropped', async () => {
    const { createSocket } = await import('node:dgram');
    const { generate, parse } = await import('coap-packet');
    const sock = createSocket('udp4');
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: ReturnType<typeof parse>[] = [];
    sock.on('message', (m) => got.push(parse(m)));
    const send = (p: Parameters<typeof generate>[0]) => sock.send(generate(p), g.coapPort, '127.0.0.1');
    send({ code: 'GET', messageId: 1, token: Buffer.from('fc'), confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, { name: 'Uri-Path', value: Buffer.from('fc') }, { name: 'Uri-Query', value: Buffer.from('c=fc1') }, { name: 'Observe', value: Buffer.alloc(0) }] });
    await until(() => got.length === 1, 'registration response');
    const dropped = g.metric('notifications/dropped/queue_full');
    const cancelled = g.metric('observers/cancelled');
    const pub = await connect(g.url);
    for (let i = 0; i < 5; i++) pub.publish('coap/fc', `m${i}`, { qos: 1 });
    await until(() => g.metric('notifications/dropped/queue_full') === dropped + 2, '2 of 5 dropped (1 in flight + 2 queued)');
    await until(() => got.length >= 2, 'the first notification arrives');
    assert.equal(got.length, 2, 'only the first notification is in flight');
    assert.equal(got[1]!.payload.toString(), 'm0');
    // ACK it: the next one goes out, and it is the oldest kept (m3, m4 are queued; m1, m2 were dropped).
    send({ code: '0.00', messageId: got[1]!.messageId, ack: true });
    await until(() => got.length === 3, 'next notification after the ACK');
    assert.equal(got[2]!.payload.toString(), 'm3');
    send({ code: '0.00', messageId: got[2]!.messageId, ack: true });
    await until(() => got.length === 4, 'last notification');
    assert.equal(got[3]!.payload.toString(), 'm4');
    send({ code: '0.00', messageId: got[3]!.messageId, reset: true });
    await until(() => g.metric('observers/cancelled') === cancelled + 1, 'RST cancels');
    sock.close();
    await endClient(pub);
  });

  test('re-registration from a new port while a CON notification is in flight: its ACK from the new port is accepted and the next one is delivered', async () => {
    const { createSocket } = await import('node:dgram');
    const { generate, parse } = await import('coap-packet');
    const open = async () => {
      const sock = createSocket('udp4');
      await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
      const got: ReturnType<typeof parse>[] = [];
      sock.on('message', (m) => got.push(parse(m)));
      return { sock, got, send: (p: Parameters<typeof generate>[0]) => sock.send(generate(p), g.coapPort, '127.0.0.1') };
    };
    const register = (mid: number, token: string) => ({ code: 'GET', messageId: mid, token: Buffer.from(token), confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, { name: 'Uri-Path', value: Buffer.from('rb') }, { name: 'Uri-Query', value: Buffer.from('c=rb1') }, { name: 'Observe', value: Buffer.alloc(0) }] }) as Parameters<typeof generate>[0];
    const base = g.metric('observers');
    const a = await open();
    a.send(register(1, 'ta'));
    await until(() => a.got.length === 1, 'registration from A');
    const pub = await connect(g.url);
    pub.publish('coap/rb', 'n1', { qos: 1 });
    await until(() => a.got.length === 2, 'CON notification at A');
    assert.equal(a.got[1]!.confirmable, true);
    const inflight = a.got[1]!.messageId;
    // The NAT rebinds before the device ACKs: it re-registers from a new port, then ACKs from there.
    const b = await open();
    b.send(register(2, 'tb'));
    await until(() => b.got.some((p) => p.ack && p.code === '2.05'), 're-registration from B');
    assert.equal(g.metric('observers'), base + 1, 'the same relation');
    b.send({ code: '0.00', messageId: inflight, ack: true });
    pub.publish('coap/rb', 'n2', { qos: 1 });
    await until(() => b.got.some((p) => p.payload.toString() === 'n2'), 'the next notification, at B');
    const n2 = b.got.find((p) => p.payload.toString() === 'n2')!;
    assert.deepEqual([n2.confirmable, n2.token.toString()], [true, 'tb']);
    b.send({ code: '0.00', messageId: n2.messageId, ack: true });
    b.send({ ...register(3, 'tb'), options: [...register(3, 'tb').options!.slice(0, 3), { name: 'Observe', value: Buffer.from([1]) }] });
    await until(() => g.metric('observers') === base, 'cancelled');
    a.sock.close();
    b.sock.close();
    await endClient(pub);
  });

  test('without c=, a device is its IP address: requests from many source ports are one registry device', async () => {
    const clients = await Promise.all([g.client(), g.client(), g.client()]);
    for (const cl of clients) assert.equal((await cl.request({ method: 'POST', path: '/ps/anon/t', payload: 'x' })).code, '2.04');
    const coap = g.gw.registry.list().filter((d) => d.protocol === 'coap' && d.id.startsWith('127.0.0.1'));
    assert.deepEqual(coap.map((d) => d.id), ['127.0.0.1']);
  });
});

describe('observation ownership', () => {
  let g: CoapGateway;
  before(async () => {
    const users = await Promise.all(['alice', 'mallory', 'bob'].map(async (u) => ({ username: u, password_hash: await hashPassword(`${u}-pw`) })));
    g = await startCoap({}, { auth: { users, acl: [{ user: 'mallory', permission: 'deny', action: 'subscribe', topics: ['alice/#'] }] } });
  });
  after(async () => g.stop());

  test('another user sending the same c= cannot re-point or cancel an observation: it is a new subscription under its own ACL', async () => {
    const alice = await g.client();
    const atAlice: CoapResponse[] = [];
    alice.on('notification', (n: CoapResponse) => atAlice.push(n));
    const q = (u: string) => ({ c: 'dev-a', u, p: `${u}-pw` });
    assert.equal((await alice.request({ method: 'GET', path: '/ps/alice/cmd', query: q('alice'), observe: 0 })).code, '2.05');
    const mallory = await g.client();
    const atMallory: CoapResponse[] = [];
    mallory.on('notification', (n: CoapResponse) => atMallory.push(n));
    assert.equal((await mallory.request({ method: 'GET', path: '/ps/alice/cmd', query: q('mallory'), observe: 0 })).code, '4.01', 'the ACL decides, as for a new subscription');
    assert.equal((await mallory.request({ method: 'GET', path: '/ps/alice/cmd', query: q('mallory'), observe: 1 })).code, '2.07');
    assert.equal(g.metric('observers'), 1, "alice's observation is still there");
    // bob may subscribe: he gets his own observation; alice keeps hers.
    const bob = await g.client();
    const atBob: CoapResponse[] = [];
    bob.on('notification', (n: CoapResponse) => atBob.push(n));
    assert.equal((await bob.request({ method: 'GET', path: '/ps/alice/cmd', query: q('bob'), observe: 0 })).code, '2.05');
    assert.equal(g.metric('observers'), 2);
    const pub = await connect(g.url);
    pub.publish('alice/cmd', 'for-alice', { qos: 0 });
    await until(() => atAlice.length === 1 && atBob.length === 1, 'alice and bob notified');
    assert.equal(atAlice[0]!.payload.toString(), 'for-alice');
    assert.equal(atMallory.length, 0);
    assert.equal((await bob.request({ method: 'GET', path: '/ps/alice/cmd', query: q('bob'), observe: 1 })).code, '2.07');
    assert.equal(g.metric('observers'), 1, "bob's cancel ends only bob's");
    await endClient(pub);
  });
});

describe('connection mode', () => {
  let g: CoapGateway;
  before(async () => {
    const hash = await hashPassword('s3cret');
    g = await startCoap({ connection_required: true, heartbeat: '1s' }, { auth: { users: [{ username: 'alice', password_hash: hash }] } });
  });
  after(async () => g.stop());

  test('create/heartbeat/close with $SYS events; missing token 4.00, wrong token 4.01, bad password 4.01', async () => {
    const { c, got } = await mqttWatch(g.url, '$SYS/brokers/+/gateway/coap/clients/#');
    const cl = await g.client();
    assert.equal((await cl.request({ method: 'POST', path: '/mqtt/connection', query: { u: 'alice', p: 's3cret' } })).code, '4.00', 'no clientid');
    assert.equal((await cl.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd1', u: 'alice', p: 'wrong' } })).code, '4.01');
    const created = await cl.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd1', u: 'alice', p: 's3cret' } });
    assert.equal(created.code, '2.01');
    const token = created.payload.toString();
    assert.match(token, /^\d+$/);
    await until(() => got.some((m) => m.topic.endsWith('/clients/d1/connected')), 'connected event');
    assert.equal(JSON.parse(got[0]!.payload).username, 'alice');
    assert.equal(JSON.parse(got[0]!.payload).sockport, g.coapPort, 'the local port the device reached');
    assert.equal((await cl.request({ method: 'POST', path: '/ps/t', query: { c: 'd1' }, payload: 'x' })).code, '4.00');
    assert.equal((await cl.request({ method: 'POST', path: '/ps/t', query: { c: 'd1', t: '1' }, payload: 'x' })).code, '4.01');
    assert.equal((await cl.request({ method: 'POST', path: '/ps/t', query: { c: 'd1', t: token }, payload: 'x' })).code, '2.04');
    assert.equal((await cl.request({ method: 'PUT', path: '/mqtt/connection', query: { c: 'd1', t: token } })).code, '2.04');
    assert.equal((await cl.request({ method: 'GET', path: '/mqtt/connection', query: { c: 'd1', t: token } })).code, '4.05');
    assert.equal((await cl.request({ method: 'DELETE', path: '/mqtt/connection', query: { c: 'd1', t: token } })).code, '2.02');
    await until(() => got.some((m) => m.topic.endsWith('/clients/d1/disconnected')), 'disconnected event');
    assert.equal(JSON.parse(got.find((m) => m.topic.endsWith('/disconnected'))!.payload).reason, 'normal');
    assert.equal((await cl.request({ method: 'PUT', path: '/mqtt/connection', query: { c: 'd1', t: token } })).code, '4.01', 'closed session');
    await endClient(c);
  });

  test('heartbeat expiry disconnects with keepalive_timeout and ends observations', async () => {
    const { c, got } = await mqttWatch(g.url, '$SYS/brokers/+/gateway/coap/clients/d2/disconnected');
    const cl = await g.client();
    const token = (await cl.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd2', u: 'alice', p: 's3cret' } })).payload.toString();
    assert.equal((await cl.request({ method: 'GET', path: '/ps/d2/cmd', query: { c: 'd2', t: token }, observe: 0 })).code, '2.05');
    assert.equal(g.metric('observers'), 1);
    await until(() => got.length === 1, 'expiry after 1.5 x heartbeat', 5000);
    assert.equal(JSON.parse(got[0]!.payload).reason, 'keepalive_timeout');
    assert.equal(g.metric('observers'), 0);
    assert.equal(g.metric('sessions'), 0);
    await endClient(c);
  });

  test('a valid token from a new source port takes over the session and its observations', async () => {
    const a = await g.client();
    const token = (await a.request({ method: 'POST', path: '/mqtt/connection', query: { c: 'd3', u: 'alice', p: 's3cret' } })).payload.toString();
    const tok = a.nextToken();
    assert.equal((await a.request({ method: 'GET', path: '/ps/d3/cmd', query: { c: 'd3', t: token }, observe: 0, token: tok })).code, '2.05');
    // The NAT rebinds: same device, new source port. It keeps the observation's token.
    const b = await g.client();
    assert.notEqual(a.localPort, b.localPort);
    assert.equal((await b.request({ method: 'PUT', path: '/mqtt/connection', query: { c: 'd3', t: token } })).code, '2.04');
    assert.match(g.gw.registry.get('coap', 'd3')!.address!, new RegExp(`:${b.localPort}$`));
    const atB: CoapResponse[] = [];
    b.watch(tok);
    b.on('notification', (n: CoapResponse) => atB.push(n));
    const pub = await connect(g.url);
    pub.publish('d3/cmd', 'to-new-port', { qos: 0 });
    await until(() => atB.some((n) => n.payload.toString() === 'to-new-port'), 'notification at the new port');
    await endClient(pub);
  });
});

describe('legacy 4.x scheme', () => {
  let g: CoapGateway;
  before(async () => {
    g = await startCoap({ legacy: true });
  });
  after(async () => g.stop());

  test('PUT /mqtt/{topic} publishes QoS 0; c is required; POST/DELETE 4.05; GET Observe subscribes; plain GET is a ping', async () => {
    const { c, got } = await mqttWatch(g.url, 'old/#');
    const cl = await g.client();
    assert.equal((await cl.request({ method: 'PUT', path: '/mqtt/old/dev', query: { c: 'legacy1' }, payload: 'v4' })).code, '2.04');
    await until(() => got.length === 1, 'legacy publish');
    assert.deepEqual([got[0]!.topic, got[0]!.payload, got[0]!.qos], ['old/dev', 'v4', 0]);
    assert.equal((await cl.request({ method: 'PUT', path: '/mqtt/old/dev', payload: 'v4' })).code, '4.00');
    assert.equal((await cl.request({ method: 'POST', path: '/mqtt/old/dev', query: { c: 'legacy1' } })).code, '4.05');
    assert.equal((await cl.request({ method: 'DELETE', path: '/mqtt/old/dev', query: { c: 'legacy1' } })).code, '4.05');
    assert.equal((await cl.request({ method: 'GET', path: '/mqtt/old/dev', query: { c: 'legacy1' } })).code, '2.05');
    const notes: CoapResponse[] = [];
    cl.on('notification', (n: CoapResponse) => notes.push(n));
    assert.equal((await cl.request({ method: 'GET', path: '/mqtt/old/%23', query: { c: 'legacy1' }, observe: 0 })).code, '2.05');
    c.publish('old/x', 'down', { qos: 1 });
    await until(() => notes.length >= 1, 'legacy notification');
    assert.equal(notes[0]!.payload.toString(), 'down');
    await endClient(c);
  });
});

describe('IPv6', () => {
  test('the adapter also serves IPv6 (::1) on its own socket, addresses in [ip]:port form', async (t) => {
    const g = await startCoap({ ipv6: { enabled: true, host: '::1' } });
    try {
      const port6 = g.gw.adapterPorts('coap').udp6;
      if (!port6) return t.skip('no IPv6 on this host (the adapter logged it and serves IPv4 only)');
      const { CoapClient } = await import('../../firmware-sim/coap/client.ts');
      const c = await CoapClient.open('::1', port6);
      assert.equal((await c.request({ method: 'POST', path: '/ps/v6/t', query: { c: 'v6dev' }, payload: 'x' })).code, '2.04');
      assert.match(g.gw.registry.get('coap', 'v6dev')!.address!, /^\[::1\]:\d+$/);
      c.close();
    } finally {
      await g.stop();
    }
  });
});
