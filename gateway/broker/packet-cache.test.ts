import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';
import { packetNumberCacheEnabled } from './packet-cache.ts';

// Issue 11 item 7: the broker turns off a setting of mqtt-packet that MQTT.js in the same process
// also sees. These tests pin what that means: one copy of mqtt-packet for aedes, MQTT.js and us;
// the setting is changed by constructing a Broker, not by importing it; and it changes no byte.

test('aedes and MQTT.js use the one mqtt-packet this module configures', () => {
  const ours = createRequire(import.meta.url).resolve('mqtt-packet');
  for (const dep of ['aedes', 'mqtt']) {
    const main = fileURLToPath(import.meta.resolve(dep));
    assert.equal(createRequire(main).resolve('mqtt-packet'), ours, `${dep} has its own mqtt-packet: disablePacketNumberCache would not reach it`);
  }
});

function encode(packet: mqttPacket.Packet): Buffer {
  const chunks: Buffer[] = [];
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  });
  mqttPacket.writeToStream(packet, sink);
  return Buffer.concat(chunks);
}

test('the number cache is off only once a Broker is constructed, and its setting changes no byte on the wire', async () => {
  assert.equal(packetNumberCacheEnabled(), true, "mqtt-packet's default");
  const { Broker } = await import('./broker.ts');
  assert.equal(packetNumberCacheEnabled(), true, 'importing the broker changes nothing');
  const packets: mqttPacket.Packet[] = [
    { cmd: 'publish', topic: 'a/b', payload: Buffer.from('x'), qos: 1, messageId: 4242, retain: false, dup: false },
    { cmd: 'puback', messageId: 65535 },
    { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] },
    { cmd: 'connect', clientId: 'c', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 300 },
  ];
  const cached = packets.map(encode);
  const { buildSchema } = await import('../app/config.ts');
  const { validateConfig } = await import('../config/load.ts');
  const { AuthService } = await import('../auth/service.ts');
  const { Ingress } = await import('../core/ingress.ts');
  const { Metrics } = await import('../metrics/metrics.ts');
  const { createLogger } = await import('../log/logger.ts');
  const config = validateConfig(buildSchema([]), {}, 'test');
  new Broker({ cfg: config.broker, auth: new AuthService(config.auth), ingress: new Ingress(), metrics: new Metrics(), log: createLogger({ level: 'silent', format: 'json' }) });
  assert.equal(packetNumberCacheEnabled(), false);
  assert.deepEqual(packets.map(encode), cached);
});
