import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactConfig } from './redact-config.ts';

test('passwords, tokens and keys are redacted; file paths, URLs without credentials and the rest are kept', () => {
  const cfg = {
    auth: { users: [{ username: 'meter', password_hash: 'scrypt$abc' }] },
    bridge: { upstreams: [{ name: 'cloud', servers: ['mqtts://dev:s3cret@cloud.example:8883', 'mqtt://cloud.example:1883'], password: 'pw', client_id: 'gw-1' }] },
    http: { tls: { key_file: '/etc/fieldgate/http.key', cert_file: '/etc/fieldgate/http.crt' } },
    adapters: { modem: { modems: [{ name: 'lora0', key: '00112233445566778899aabbccddeeff', appskey: 'ff' }] }, coap: { port: 5683 } },
    empty: { password: '' },
  };
  assert.deepEqual(redactConfig(cfg), {
    auth: { users: [{ username: 'meter', password_hash: '[redacted]' }] },
    bridge: { upstreams: [{ name: 'cloud', servers: ['mqtts://[redacted]@cloud.example:8883', 'mqtt://cloud.example:1883'], password: '[redacted]', client_id: 'gw-1' }] },
    http: { tls: { key_file: '/etc/fieldgate/http.key', cert_file: '/etc/fieldgate/http.crt' } },
    adapters: { modem: { modems: [{ name: 'lora0', key: '[redacted]', appskey: '[redacted]' }] }, coap: { port: 5683 } },
    empty: { password: '' },
  });
});
