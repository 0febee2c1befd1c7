import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { timeOnAirMs } from './airtime.ts';
import { until } from '../../../gateway/test/helpers.ts';
import { modemConfigSchema } from '../config.ts';
import { DownlinkQueue, type DownlinkStatus } from './downlink.ts';
import { bandFor, DutyCycleLedger } from './duty-cycle.ts';

describe('time on air (Semtech formula)', () => {
  const p = (sf: number, cr = 0, bw = 125) => ({ sf, bw, cr, preamble: 8 });
  test('matches published calculator values', () => {
    // The Things Network airtime calculator / Semtech LoRa calculator, EU868, explicit header, CRC on,
    // CR 4/5, preamble 8: 23-byte PHY payload (10 B application + 13 B LoRaWAN overhead).
    const cases: [number, number, number][] = [
      [7, 23, 61.7],
      [9, 23, 205.8],
      [12, 23, 1482.8],
      // modems.md §4.10 table (BW125, CR4/5, preamble 8)
      [7, 10, 41.2],
      [7, 255, 399.6],
      [9, 51, 328.7],
      [10, 100, 1026.0],
      [12, 51, 2465.8],
      [12, 255, 9019.4],
    ];
    for (const [sf, len, ms] of cases) assert.equal(Math.round(timeOnAirMs(len, p(sf)) * 10) / 10, ms, `SF${sf} ${len} B`);
  });
  test('SF5/SF6 (SX126x only): preamble + 6.25 symbols, no 8-bit term (SX1261/2 datasheet 6.1.4)', () => {
    // By hand, BW125 CR4/5 preamble 8, CRC on, explicit header, 10 bytes:
    // SF5: Tsym 0.256 ms; (8 + 6.25) + 8 + ceil((80 - 20 + 16 + 20) / 20) * 5 = 47.25 symbols = 12.096 ms
    // SF6: Tsym 0.512 ms; (8 + 6.25) + 8 + ceil((80 - 24 + 16 + 20) / 24) * 5 = 42.25 symbols = 21.632 ms
    assert.equal(Math.round(timeOnAirMs(10, p(5)) * 1000) / 1000, 12.096);
    assert.equal(Math.round(timeOnAirMs(10, p(6)) * 1000) / 1000, 21.632);
  });
  test('per-module radio limits are config errors, not a bring-up that fails forever', () => {
    const parse = (m: Record<string, unknown>) => modemConfigSchema.safeParse({ enabled: true, modems: [{ name: 'm', path: '/dev/x', ...m }] });
    const msg = (m: Record<string, unknown>) => {
      const r = parse(m);
      return r.success ? '' : r.error.issues.map((i) => i.message).join('; ');
    };
    assert.match(msg({ type: 'rn2483', lora: { sf: 6 } }), /an rn2483 supports SF7-SF12, not SF6/);
    assert.match(msg({ type: 'rn2483', lora: { power: 16 } }), /an rn2483 transmits at -3\.\.15 dBm, not 16/);
    assert.match(msg({ type: 'rn2483', lora: { power: -4 } }), /-3\.\.15 dBm, not -4/);
    assert.match(msg({ type: 'rak3172', lora: { power: 4 } }), /a rak3172 \(AT\+PTP\) transmits at 5\.\.22 dBm, not 4/);
    assert.ok(parse({ type: 'rak3172', lora: { sf: 5, power: 22 } }).success);
    assert.ok(parse({ type: 'rn2483', lora: { sf: 7, power: -3 } }).success);
  });
  test('wider bandwidth and higher coding rate', () => {
    assert.ok(timeOnAirMs(20, p(7, 0, 250)) < timeOnAirMs(20, p(7)));
    assert.ok(timeOnAirMs(20, p(7, 3)) > timeOnAirMs(20, p(7)));
  });
});

describe('EU868 duty cycle', () => {
  test('sub-bands', () => {
    assert.equal(bandFor(868_100_000)?.dutyCycle, 0.01);
    assert.equal(bandFor(869_525_000)?.dutyCycle, 0.1);
    assert.equal(bandFor(868_900_000)?.dutyCycle, 0.001);
    assert.equal(bandFor(915_000_000), undefined);
  });
  test('1 % of an hour is 36 s of airtime; beyond it the wait is until the oldest send leaves the window', () => {
    let now = 0;
    const l = new DutyCycleLedger(bandFor(868_100_000)!, 3_600_000, () => now);
    assert.equal(l.budgetMs, 36_000);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(l.check(10_000), { ok: true });
      l.record(10_000);
      now += 1000;
    }
    const c = l.check(10_000);
    assert.ok(!c.ok);
    assert.equal(c.waitMs, 3_600_000 - 3000);
    assert.match(c.reason, /duty cycle: sub-band g1 .* has used 30000 of 36000 ms/);
    assert.deepEqual(l.check(6_000), { ok: true });
    now = 3_600_001;
    assert.deepEqual(l.check(10_000), { ok: true });
    const huge = l.check(40_000);
    assert.ok(!huge.ok && huge.waitMs === Infinity);
  });
});

describe('downlink queue', () => {
  test('a frequency in a gap between sub-bands is named as such, one outside 863-870 MHz as outside', () => {
    const host = { ready: () => false, transmit: () => Promise.resolve(), done: () => {}, ledgerNotSaved: () => {} };
    const cfg = (frequency: number) => modemConfigSchema.parse({ enabled: true, modems: [{ name: 'm', type: 'rak3172', path: '/dev/null', lora: { frequency } }] }).modems[0]!;
    assert.throws(() => new DownlinkQueue(cfg(868_650_000), host), /868650000 Hz is in a gap between the EU868 sub-bands/);
    assert.throws(() => new DownlinkQueue(cfg(915_000_000), host), /915000000 Hz is outside every EU868 sub-band/);
  });

  test('a downlink waiting for a modem that stays down is refused after max_wait (cause not_ready), never sent', async () => {
    const cfg = modemConfigSchema.parse({ enabled: true, modems: [{ name: 'm', type: 'rak3172', path: '/dev/null', duty_cycle: { max_wait: '30ms' } }] }).modems[0]!;
    const statuses: DownlinkStatus[] = [];
    let sent = 0;
    const q = new DownlinkQueue(cfg, {
      ready: () => false,
      transmit: () => {
        sent++;
        return Promise.resolve();
      },
      done: (_req, s) => statuses.push(s),
      ledgerNotSaved: () => {},
    });
    q.push({ payload: Buffer.from([1]) });
    q.push({ payload: Buffer.from([2]) });
    await until(() => statuses.length === 2, 'both refused');
    q.stop();
    for (const s of statuses) {
      assert.equal(s.status, 'refused');
      assert.equal(s.status === 'refused' && s.cause, 'not_ready');
      assert.match(s.status === 'refused' ? s.reason : '', /modem m was not ready .* within duty_cycle\.max_wait \(30 ms\)/);
    }
    assert.equal(q.length, 0);
    assert.equal(sent, 0);
  });
});
