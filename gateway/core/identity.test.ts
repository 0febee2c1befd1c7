import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deviceIp, devicePort, ipPort, peerAddress, type DeviceIdentity } from './identity.ts';

const dev = (transport: DeviceIdentity['transport'], address: string, via?: string): DeviceIdentity => ({ protocol: 'p', id: 'd', transport, address, via });

test('IP peers: the address splits into IP and port, whatever the IP version', () => {
  assert.deepEqual([deviceIp(dev('udp', '10.0.0.5:5683')), devicePort(dev('udp', '10.0.0.5:5683'))], ['10.0.0.5', 5683]);
  assert.deepEqual([deviceIp(dev('tcp', '[fe80::1]:40000')), devicePort(dev('tcp', '[fe80::1]:40000'))], ['fe80::1', 40000]);
  // What adapters wrote before ipPort(): unbracketed IPv6, IPv4-mapped.
  assert.deepEqual([deviceIp(dev('tcp', '::1:40000')), devicePort(dev('tcp', '::1:40000'))], ['::1', 40000]);
  assert.equal(deviceIp(dev('tcp', '::ffff:10.0.0.5:1883')), '10.0.0.5');
  assert.equal(deviceIp(dev('udp', 'not-an-ip:5683')), undefined);
});

test('a BLE MAC ending in digits is not "host:port", nor is a serial path or a LoRa modem', () => {
  assert.equal(deviceIp(dev('ble', '54:48:e6:00:00:01')), undefined);
  assert.equal(devicePort(dev('ble', '54:48:e6:00:00:01')), undefined);
  assert.equal(peerAddress(dev('ble', '54:48:e6:00:00:01')), '54:48:e6:00:00:01', 'bans and ACL rules name the whole MAC');
  // An IPv6-looking serial link name is still a serial link.
  assert.equal(peerAddress(dev('serial', '/dev/ttyUSB0')), undefined);
  assert.equal(peerAddress(dev('serial', '::1:5683')), undefined);
  assert.equal(peerAddress(dev('lora', 'lora0', 'lora0')), undefined);
});

test('records without a transport (written before it existed) are read by their address', () => {
  assert.equal(deviceIp({ address: '10.0.0.5:5683' }), '10.0.0.5');
  assert.equal(deviceIp({ address: '54:48:e6:00:00:01' }), undefined);
  assert.equal(deviceIp({ address: '/dev/ttyUSB0' }), undefined);
});

test('a device reached through a modem is never the gateway host, even if it says it is loopback', () => {
  assert.equal(peerAddress(dev('udp', '127.0.0.1:5683')), '127.0.0.1');
  assert.equal(peerAddress(dev('udp', '127.0.0.1:5683', 'nb0')), undefined);
  assert.equal(peerAddress(dev('udp', '[::1]:5683', 'nb0')), undefined);
  assert.equal(peerAddress(dev('udp', '10.64.1.7:40000', 'nb0')), '10.64.1.7', 'ACL rules by range still match operator addresses');
});

test('ipPort brackets IPv6 and unwraps IPv4-mapped addresses', () => {
  assert.equal(ipPort('10.0.0.5', 1), '10.0.0.5:1');
  assert.equal(ipPort('::1', 2), '[::1]:2');
  assert.equal(ipPort('::ffff:127.0.0.1', 3), '127.0.0.1:3');
});
