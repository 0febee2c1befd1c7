import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildSchema } from '../../gateway/app/config.ts';
import { validateConfig } from '../../gateway/config/load.ts';
import type { ModemConfig } from './config.ts';
import { modemAdapter } from './index.ts';

// A key of the other module family is refused when the configuration loads, naming the key and
// the modem, instead of being accepted and silently ignored.

const load = (modem: Record<string, unknown>) => validateConfig(buildSchema([modemAdapter]), { adapters: { modem: { enabled: true, modems: [modem] } } }, 'fieldgate.yaml');
const loaded = (modem: Record<string, unknown>) => (load(modem).adapters as { modem: { modems: ModemConfig[] } }).modem.modems[0]!;
const nb = { name: 'nb0', type: 'bc95', path: '/dev/ttyUSB2' };
const lo = { name: 'lora0', type: 'rak3172', path: '/dev/serial0' };

test('LoRa-only keys on an NB-IoT modem are refused, each by name', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ lora: { sf: 9 } }, 'lora'],
    [{ frames: 'raw' }, 'frames'],
    [{ frames: 'fieldgate' }, 'frames'],
    [{ nodes: [] }, 'nodes'],
    [{ counters_file: 'c.json' }, 'counters_file'],
    [{ duty_cycle: { region: 'none' } }, 'duty_cycle'],
    [{ duty_cycle: {} }, 'duty_cycle'],
    [{ timeouts: { command: '1s', tx_margin: '2s' } }, 'timeouts.tx_margin'],
  ];
  for (const type of ['bc95', 'bg96']) {
    for (const [extra, key] of cases) {
      assert.throws(() => load({ ...nb, type, ...extra }), (err: Error) => {
        assert.match(err.message, new RegExp(`modem nb0: ${key.replace('.', '\\.')} is only for LoRa modules \\(rak3172, rn2483\\), not a ${type}; remove it`), `${type} ${key}`);
        return true;
      });
    }
  }
});

test('NB-IoT-only keys on a LoRa modem are refused, each by name', () => {
  const cases: [Record<string, unknown>, string][] = [
    [{ nbiot: { protocol: 'raw' } }, 'nbiot'],
    [{ nbiot: {} }, 'nbiot'],
    [{ health_interval: '5m' }, 'health_interval'],
    [{ timeouts: { network: '2m' } }, 'timeouts.network'],
  ];
  for (const type of ['rak3172', 'rn2483']) {
    for (const [extra, key] of cases) {
      assert.throws(() => load({ ...lo, type, ...extra }), (err: Error) => {
        assert.match(err.message, new RegExp(`modem lora0: ${key.replace('.', '\\.')} is only for NB-IoT modules \\(bc95, bg96\\), not a ${type}; remove it`), `${type} ${key}`);
        return true;
      });
    }
  }
});

test('every key of one modem wrong: all named in one error', () => {
  assert.throws(() => load({ ...nb, counters_file: 'x', duty_cycle: {}, health_interval: '1m' }), (err: Error) => {
    assert.match(err.message, /counters_file is only for LoRa/);
    assert.match(err.message, /duty_cycle is only for LoRa/);
    assert.doesNotMatch(err.message, /health_interval/);
    return true;
  });
});

test("each family's own keys are accepted and every default is filled in", () => {
  const n = loaded({ ...nb, nbiot: { protocol: 'raw' }, health_interval: '5m', timeouts: { command: '2s', network: '2m', reboot: '40s' } });
  assert.deepEqual([n.health_interval, n.timeouts, n.nbiot.protocol], [300_000, { command: 2000, reboot: 40_000, network: 120_000, tx_margin: 1000 }, 'raw']);
  const l = loaded({ ...lo, frames: 'raw', counters_file: 'c.json', duty_cycle: { region: 'none' }, timeouts: { tx_margin: '2s' } });
  assert.deepEqual([l.frames, l.duty_cycle, l.timeouts], ['raw', { region: 'none', max_wait: 60_000, max_queue: 16 }, { command: 1000, reboot: 5000, network: 60_000, tx_margin: 2000 }]);
  const bare = loaded(lo);
  assert.deepEqual([bare.frames, bare.nodes, bare.duty_cycle, bare.health_interval], ['raw', [], { region: 'eu868', max_wait: 60_000, max_queue: 16 }, 60_000]);
});

test('nbiot.max_datagram: a bc95 takes up to 1358 (BC28), a bg96 up to 1460; more is refused by name', () => {
  assert.equal(loaded({ ...nb, nbiot: { max_datagram: 1358 } }).nbiot.max_datagram, 1358);
  assert.equal(loaded({ ...nb, type: 'bg96', nbiot: { max_datagram: 1460 } }).nbiot.max_datagram, 1460);
  assert.throws(() => load({ ...nb, nbiot: { max_datagram: 1359 } }), (err: Error) => {
    assert.match(err.message, /modem nb0: a bc95 family module takes at most 1358 bytes per datagram \(BC28; 512 for a BC95\)/);
    return true;
  });
  // 1359..1460 is refused only for the bc95 family; past 1460 the schema refuses any type.
  assert.throws(() => load({ ...nb, type: 'bg96', nbiot: { max_datagram: 1461 } }), /max_datagram/);
});
