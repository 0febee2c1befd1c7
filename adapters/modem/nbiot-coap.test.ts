import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { generate, parse } from 'coap-packet';
import { CoapClient, type CoapResponse } from '../../firmware-sim/coap/client.ts';
import { SimDevice } from '../../firmware-sim/lwm2m/device.ts';
import { NbiotModuleSim } from '../../firmware-sim/modem/nbiot-sim.ts';
import { missingTool } from '../../gateway/test/tools.ts';
import { startModemGateway, until, waitReady, type ModemTestGateway } from './test-kit.ts';

// CoAP and LwM2M devices behind NB-IoT modules: the modem adapter provides each module's socket as
// datagram/<name>, and the gateway's own CoAP and LwM2M engines serve it. The devices are
// firmware-sim's (built on coap-packet, not on the gateway's engine); they reach the module through
// the simulated operator network (NbiotModuleSim.network()).

const skip = missingTool('socat', 'socat');
// Devices on an operator's network have operator addresses (not loopback): an ACL rule lets them in.
const ACL = [{ permission: 'allow', action: 'all', topics: ['nb/#'] }];
const COAP = { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } } };

/** The datagrams the module sent (AT+NSOST on a BC95), decoded from the command's hex. */
function nsost(commands: string[]): { address: string; port: number; packet: ReturnType<typeof parse> }[] {
  return commands
    .map((c) => /^AT\+NSOST=\d,([0-9.]+),(\d+),\d+,([0-9A-F]+)$/.exec(c))
    .filter((m) => m !== null)
    .map((m) => ({ address: m[1]!, port: Number(m[2]), packet: parse(Buffer.from(m[3]!, 'hex')) }));
}

describe('CoAP through a BC95 (datagram/nb0 served by the CoAP adapter)', { skip }, () => {
  let sim: NbiotModuleSim;
  let g: ModemTestGateway;
  let net: { host: string; port: number };
  const clients: CoapClient[] = [];
  const device = async () => {
    const c = await CoapClient.open(net.host, net.port, '127.0.0.1');
    clients.push(c);
    return c;
  };

  before(async () => {
    sim = await NbiotModuleSim.start('bc95', { seed: 5 });
    net = await sim.network();
    g = await startModemGateway([{ name: 'nb0', type: 'bc95', path: sim.path, nbiot: { listen_port: 5683, protocol: 'coap' } }], ['nb/#'], { adapters: COAP, acl: ACL, anonymous: 'always' });
    await waitReady(g, 'nb0');
    await until(() => sim.emulator.openPorts.includes(5683), 'socket open');
  });
  after(async () => {
    for (const c of clients) c.close();
    await g?.stop();
    await sim?.stop();
  });

  test('a CON POST is published and ACKed through AT+NSOST, piggy-backed, with the same message id and token', async () => {
    const sock = (await device()).socket;
    const token = Buffer.from('a1b2c3d4', 'hex');
    // Hand-built from RFC 7252, so the device side shares nothing with the gateway's engine.
    const req = generate({ code: 'POST', messageId: 0x4d2e, token, confirmable: true, options: [{ name: 'Uri-Path', value: Buffer.from('ps') }, { name: 'Uri-Path', value: Buffer.from('nb') }, { name: 'Uri-Path', value: Buffer.from('meter') }, { name: 'Uri-Query', value: Buffer.from('c=meter-1') }] as never, payload: Buffer.from('{"kwh":12.5}') });
    const reply = new Promise<Buffer>((resolve) => sock.once('message', (b: Buffer) => resolve(b)));
    sock.send(req, net.port, net.host);
    await until(() => g.got.some((m) => m.topic === 'nb/meter'), 'published');
    assert.deepEqual(g.got.find((m) => m.topic === 'nb/meter')?.body, { kwh: 12.5 });
    const ack = parse(await reply);
    assert.equal(ack.ack, true);
    assert.equal(ack.code, '2.04');
    assert.equal(ack.messageId, 0x4d2e);
    assert.deepEqual(ack.token, token);
    const sent = nsost(sim.emulator.commands);
    assert.equal(sent.length, 1, 'one datagram on air for one request');
    assert.equal(sent[0]?.address, '10.64.1.1');
    assert.equal(sent[0]?.packet.messageId, 0x4d2e);
  });

  const notes: CoapResponse[] = [];
  test('an Observe through the modem gets a notification when MQTT publishes', async () => {
    const cl = await device();
    cl.on('notification', (n: CoapResponse) => notes.push(n));
    const reg = await cl.request({ method: 'GET', path: '/ps/nb/cmd', query: { c: 'meter-2' }, observe: 0 });
    assert.equal(reg.code, '2.05');
    await g.mq.publishAsync('nb/cmd', 'valve=open', { qos: 1 });
    await until(() => notes.length === 1, 'notification through the modem');
    assert.equal(notes[0]?.payload.toString(), 'valve=open');
  });

  test('a notification larger than 512 bytes goes block-wise, every datagram within the module limit', async () => {
    const cl = await device();
    const notes: CoapResponse[] = [];
    cl.on('notification', (n: CoapResponse) => notes.push(n));
    await cl.request({ method: 'GET', path: '/ps/nb/big', query: { c: 'meter-3' }, observe: 0 });
    await g.mq.publishAsync('nb/big', Buffer.alloc(1500, 'x'), { qos: 1 });
    await until(() => notes.length === 1, 'first block');
    assert.ok(notes[0]?.option('Block2'), 'Block2 on the notification');
    assert.ok(Math.max(...nsost(sim.emulator.commands).map((d) => generate(d.packet).length)) <= 512);
    assert.equal(g.metric('nb0/datagrams/refused/too_large'), 0);
  });

  test('after a module reset the socket is reopened and provided again: CoAP works without a gateway restart', async () => {
    sim.emulator.reboot();
    await until(() => g.metric('nb0/reboots') === 1, 'reboot seen');
    await waitReady(g, 'nb0');
    await until(() => sim.emulator.openPorts.includes(5683), 'socket open again');
    const cl = await device();
    const res = await cl.request({ method: 'POST', path: '/ps/nb/meter', query: { c: 'meter-4' }, payload: 'again' });
    assert.equal(res.code, '2.04');
    assert.equal(res.type, 'ACK');
  });

  // The device did not move (same address and port on the operator network), so its observation
  // carries over to the new socket, as LwM2M registrations do: the CoAP adapter keeps one engine
  // endpoint per transport name and switches the new instance in under it (adapters/lib/coap/datagrams.ts).
  test('an observation made before the module reset still gets notifications', async () => {
    await g.mq.publishAsync('nb/cmd', 'valve=closed', { qos: 1 });
    await until(() => notes.some((x) => x.payload.toString() === 'valve=closed'), 'notification after the reset', 3000);
  });
});

describe('LwM2M through a BG96 (datagram/nb1 served by the LwM2M adapter)', { skip }, () => {
  let sim: NbiotModuleSim;
  let g: ModemTestGateway;
  let d: SimDevice | undefined;

  before(async () => {
    sim = await NbiotModuleSim.start('bg96', { seed: 6 });
    const net = await sim.network();
    g = await startModemGateway([{ name: 'nb1', type: 'bg96', path: sim.path, nbiot: { listen_port: 5683, protocol: 'lwm2m', apn: 'iot.example' } }], ['lwm2m/#'], { adapters: { lwm2m: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } } }, acl: [{ permission: 'allow', action: 'all', topics: ['lwm2m/#'] }], anonymous: 'always' });
    await waitReady(g, 'nb1');
    await until(() => sim.emulator.openPorts.includes(5683), 'socket open');
    d = await SimDevice.create({ host: net.host, port: net.port, ep: 'nb-meter-1', localAddress: '127.0.0.1' });
  });
  after(async () => {
    d?.close();
    await g?.stop();
    await sim?.stop();
  });

  test('a device registers through the module and answers a read command sent back through it', async () => {
    assert.equal(await d!.register(), '2.01');
    await until(() => g.got.some((m) => m.topic === 'lwm2m/nb-meter-1/up/resp' && m.body.msgType === 'register'), 'register event');
    await g.mq.publishAsync('lwm2m/nb-meter-1/dn/dm', JSON.stringify({ reqID: 7, msgType: 'read', data: { path: '/3/0/1' } }), { qos: 1 });
    await until(() => g.got.some((m) => m.topic === 'lwm2m/nb-meter-1/up/resp' && m.body.reqID === 7), 'read response');
    const read = g.got.find((m) => m.topic === 'lwm2m/nb-meter-1/up/resp' && m.body.reqID === 7)?.body;
    assert.deepEqual(read?.data, { reqPath: '/3/0/1', code: '2.05', codeMsg: 'content', content: [{ path: '/3/0/1', value: 'lwm2m-sim-1' }] });
    assert.ok(d!.received.some((r) => r.method === 'GET' && r.path === '/3/0/1'), 'the read reached the device through the module');
    assert.ok(sim.emulator.commands.some((c) => /^AT\+QISEND=0,\d+,"10\.64\.1\.1",\d+$/.test(c)), 'replies left with AT+QISEND to the device address');
    assert.ok(sim.emulator.commands.includes('AT+QICSGP=1,1,"iot.example","","",1'), 'the APN was set');
  });
});
