import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { rng } from '../../../gateway/test/random.ts';
import { GSM, RN2483, RUI3 } from './dialect.ts';
import { AtEngine } from './engine.ts';
import { isAtError } from './errors.ts';
import { LineFramer, type FramerEvent } from './framer.ts';

/** An engine on a fake wire: what it writes is recorded, what the modem says is fed in byte by byte. */
function wire(dialect = RUI3, timeoutMs = 200) {
  const written: string[] = [];
  const e = new AtEngine(dialect, { defaultTimeoutMs: timeoutMs });
  e.attach((b) => written.push(b.toString('latin1')));
  const say = (s: string, split = 1) => {
    const b = Buffer.from(s, 'latin1');
    for (let i = 0; i < b.length; i += split) e.feed(b.subarray(i, i + split));
  };
  return { e, written, say };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('LineFramer', () => {
  const frame = (chunks: (string | Buffer)[], setup?: (f: LineFramer, out: FramerEvent[]) => void) => {
    const out: FramerEvent[] = [];
    const f = new LineFramer((ev) => out.push(ev));
    setup?.(f, out);
    for (const c of chunks) f.push(Buffer.isBuffer(c) ? c : Buffer.from(c, 'latin1'));
    return out;
  };

  test('splits on CRLF, lone CR and lone LF; drops empty lines', () => {
    assert.deepEqual(frame(['\r\nOK\r\n', 'A\rB\nC\r', '\n\r\n\n']), ['OK', 'A', 'B', 'C'].map((text) => ({ kind: 'line', text })));
  });

  test('a CRLF split across reads is one terminator', () => {
    assert.deepEqual(frame(['OK\r', '\nX\r', '\n']), [{ kind: 'line', text: 'OK' }, { kind: 'line', text: 'X' }]);
  });

  test('non-printable noise is removed, so it cannot break a following URC', () => {
    assert.deepEqual(frame([Buffer.from([0x00, 0xff, 0x13]), '+EVT:TXP2P DONE\r\n']), [{ kind: 'line', text: '+EVT:TXP2P DONE' }]);
  });

  test('the prompt is reported without a newline, only while armed', () => {
    const out = frame(['> '], (f) => f.armPrompt('> '));
    assert.deepEqual(out, [{ kind: 'prompt', text: '> ' }]);
    assert.deepEqual(frame(['> x\r\n']), [{ kind: 'line', text: '> x' }]);
  });

  test('raw reads take exactly n bytes, CR/LF and binary included, then lines resume', () => {
    const out: FramerEvent[] = [];
    const f = new LineFramer((ev) => {
      out.push(ev);
      if (ev.kind === 'line' && ev.text.startsWith('+QIRD: ')) f.expectRaw(Number(ev.text.slice(7)));
    });
    f.push(Buffer.from('+QIRD: 4\r\n\r\n\x00'));
    f.push(Buffer.from([0xff, 0x0a, 0x4f, 0x4b, 0x0d, 0x0a]));
    assert.deepEqual(out, [
      { kind: 'line', text: '+QIRD: 4' },
      { kind: 'raw', data: Buffer.from([0x0d, 0x0a, 0x00, 0xff]) },
      { kind: 'line', text: 'OK' },
    ]);
  });

  test('an over-long line is discarded and reported', () => {
    const out = frame(['x'.repeat(2000), '\r\nOK\r\n']);
    assert.deepEqual(out, [{ kind: 'overflow', bytes: 2000 }, { kind: 'line', text: 'OK' }]);
  });

  test('seeded fuzz: any split of any mix of lines, noise and blank lines gives back exactly the lines', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const r = rng(seed);
      const lines: string[] = [];
      let stream = '';
      const n = 1 + Math.floor(r() * 30);
      for (let i = 0; i < n; i++) {
        const len = 1 + Math.floor(r() * 60);
        let line = '';
        for (let j = 0; j < len; j++) line += String.fromCharCode(0x20 + Math.floor(r() * 95));
        if (line.trim() === '' && line.length === 0) continue;
        lines.push(line);
        const noise = r() < 0.2 ? String.fromCharCode(0, 0xff, 0x7f) : '';
        const eol = ['\r\n', '\r', '\n', '\r\n\r\n'][Math.floor(r() * 4)] as string;
        stream += noise + line + eol;
      }
      const bytes = Buffer.from(stream, 'latin1');
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; ) {
        const k = 1 + Math.floor(r() * 16);
        chunks.push(bytes.subarray(i, i + k));
        i += k;
      }
      const got = frame(chunks).map((ev) => (ev.kind === 'line' ? ev.text : `?${ev.kind}`));
      assert.deepEqual(got, lines, `seed ${seed}`);
    }
  });
});

describe('AtEngine', () => {
  test('a command resolves on OK with its info lines; echo is dropped', async () => {
    const { e, written, say } = wire();
    const p = e.send('AT+NWM=?');
    await tick();
    assert.deepEqual(written, ['AT+NWM=?\r\n']);
    say('AT+NWM=?\r\nAT+NWM=0\r\n\r\nOK\r\n', 1);
    const r = await p;
    assert.deepEqual(r.lines, ['AT+NWM=0']);
    assert.equal(r.final, 'OK');
    assert.equal(r.echoed, true);
  });

  test('per-dialect final codes: RUI3 AT_BUSY_ERROR, 3GPP +CME ERROR, RN2483 invalid_param', async () => {
    for (const [d, line] of [
      [RUI3, 'AT_BUSY_ERROR'],
      [GSM, '+CME ERROR: 4'],
      [RN2483, 'invalid_param'],
    ] as const) {
      const { e, say } = wire(d);
      const p = e.send('X');
      await tick();
      say(`${line}\r\n`);
      await assert.rejects(p, (err) => isAtError(err, 'error') && err.final === line);
    }
  });

  test('an info line containing ERROR does not end the command', async () => {
    const { e, say } = wire(GSM);
    const p = e.send('AT+X');
    await tick();
    say('+X: "NO ERROR HERE"\r\nOK\r\n');
    assert.deepEqual((await p).lines, ['+X: "NO ERROR HERE"']);
  });

  test('URCs reach their handler before, between and after a command, split at every byte', async () => {
    const { e, say } = wire();
    const got: string[] = [];
    e.onUrc(/^\+EVT:RXP2P:(-?\d+):(-?\d+):([0-9A-F]*)$/, (m) => got.push(m[3] as string));
    say('+EVT:RXP2P:-1:2:AA\r\n', 1);
    const p = e.send('AT+P2P=?');
    await tick();
    say('+EVT:RXP2P:-1:2:BB\r\nAT+P2P=868000000:7:125:0:8:14\r\n+EVT:RXP2P:-1:2:CC\r\nOK\r\n+EVT:RXP2P:-1:2:DD\r\n', 1);
    const r = await p;
    assert.deepEqual(r.lines, ['AT+P2P=868000000:7:125:0:8:14']);
    assert.deepEqual(got, ['AA', 'BB', 'CC', 'DD']);
  });

  test('a phase-2 waiter registered before the write sees a line in the same chunk as OK', async () => {
    const { e, say } = wire();
    const done = e.expect(/^\+EVT:TXP2P DONE$/, 500);
    const p = e.send('AT+PSEND=01');
    await tick();
    say('OK\r\n+EVT:TXP2P DONE\r\n');
    await p;
    assert.equal((await done.promise)[0], '+EVT:TXP2P DONE');
  });

  test('timeout is an absolute deadline: chatter does not keep a command alive; the queue moves on', async () => {
    const { e, written, say } = wire(RUI3, 80);
    e.onUrc(/^\+EVT:/, () => {});
    const p1 = e.send('AT+A');
    const p2 = e.send('AT+B');
    const chatter = setInterval(() => say('+EVT:RXP2P:-1:1:00\r\n'), 10);
    await assert.rejects(p1, (err) => isAtError(err, 'timeout'));
    clearInterval(chatter);
    assert.equal(e.consecutiveTimeouts, 1);
    await tick();
    assert.deepEqual(written, ['AT+A\r\n', 'AT+B\r\n']);
    say('OK\r\n');
    await p2;
    assert.equal(e.consecutiveTimeouts, 0);
  });

  test('one command in flight; priority commands go first', async () => {
    const { e, written, say } = wire();
    const a = e.send('A');
    const b = e.send('B');
    const c = e.send('C', { priority: true });
    await tick();
    assert.deepEqual(written, ['A\r\n']);
    say('OK\r\n');
    await a;
    await tick();
    say('OK\r\n');
    await c;
    await tick();
    say('OK\r\n');
    await b;
    assert.deepEqual(written, ['A\r\n', 'C\r\n', 'B\r\n']);
  });

  test('done pattern (reboot banner) and value replies (RN2483)', async () => {
    const { e, say } = wire();
    const banner = /^Current Work Mode: LoRa P2P\.$/;
    e.onUrc(banner, () => assert.fail('the banner belongs to the command'));
    const p = e.send('AT+NWM=0', { done: banner });
    await tick();
    say('RAKwireless RAK3172-E Example\r\nCurrent Work Mode: LoRa P2P.\r\n');
    assert.equal((await p).final, 'Current Work Mode: LoRa P2P.');
    const rn = wire(RN2483);
    const q = rn.e.send('radio get snr', { value: true });
    await tick();
    rn.say('-5\r\n');
    assert.equal((await q).final, '-5');
  });

  test('prompt then payload, and a raw read announced by an info line (BG96 style)', async () => {
    const { e, written, say } = wire(GSM);
    const p = e.send('AT+QISEND=0,3', { prompt: { text: '> ', data: Buffer.from([1, 2, 3]) } });
    await tick();
    say('> ');
    assert.deepEqual(Buffer.from(written[1] as string, 'latin1'), Buffer.from([1, 2, 3]));
    say('SEND OK\r\n');
    assert.equal((await p).final, 'SEND OK');
    const q = e.send('AT+QIRD=0', { rawAfter: (l) => (/^\+QIRD: (\d+)/.exec(l) ? Number(/^\+QIRD: (\d+)/.exec(l)?.[1]) : undefined) });
    await tick();
    say('+QIRD: 5,"10.0.0.9",5683\r\nOK\r\n\x00\r\nOK\r\n');
    const r = await q;
    assert.deepEqual(r.raw, Buffer.from('OK\r\n\x00', 'latin1'));
    assert.equal(r.final, 'OK');
  });

  test('a URC followed by raw bytes (direct push) hands the bytes to its handler', async () => {
    const { e, say } = wire(GSM);
    const got: Buffer[] = [];
    e.onUrc(/^\+QIURC: "recv",(\d+),(\d+)$/, (_m, raw) => got.push(raw as Buffer), { rawLen: (m) => Number(m[2]) });
    say('+QIURC: "recv",0,3\r\n\r\nA', 1);
    assert.deepEqual(got, [Buffer.from('\r\nA')]);
  });

  test('detach fails everything queued, in flight and waiting, with kind closed', async () => {
    const { e } = wire();
    const w = e.expect(/^X$/, 10_000);
    const a = e.send('A');
    const b = e.send('B');
    e.detach('unplugged');
    await assert.rejects(a, (err) => isAtError(err, 'closed'));
    await assert.rejects(b, (err) => isAtError(err, 'closed'));
    await assert.rejects(w.promise, (err) => isAtError(err, 'closed'));
    await assert.rejects(e.send('C'), (err) => isAtError(err, 'closed'));
  });

  test('a throwing URC handler is reported and the engine keeps parsing', async () => {
    const errors: string[] = [];
    const e = new AtEngine(RUI3, { hooks: { handlerError: (err) => errors.push(err.message) } });
    e.attach(() => {});
    e.onUrc(/^\+EVT:/, () => {
      throw new Error('boom');
    });
    const p = e.send('AT');
    await tick();
    e.feed(Buffer.from('+EVT:x\r\nOK\r\n'));
    await p;
    assert.deepEqual(errors, ['boom']);
  });

  test('seeded fuzz: commands and URCs interleaved at random, split at random, all accounted for', async () => {
    for (let seed = 1; seed <= 60; seed++) {
      const r = rng(seed);
      const { e, say } = wire(RUI3, 5000);
      const urcs: string[] = [];
      e.onUrc(/^\+EVT:RXP2P:-?\d+:-?\d+:([0-9A-F]+)$/, (m) => urcs.push(m[1] as string));
      const wantUrcs: string[] = [];
      const n = 1 + Math.floor(r() * 8);
      for (let i = 0; i < n; i++) {
        const p = e.send(`AT+Q${i}=?`);
        await tick();
        let out = r() < 0.5 ? `AT+Q${i}=?\r\n` : '';
        const urc = () => {
          const hex = Math.floor(r() * 0xffff).toString(16).toUpperCase().padStart(4, '0');
          wantUrcs.push(hex);
          return `+EVT:RXP2P:-${Math.floor(r() * 120)}:${Math.floor(r() * 20) - 10}:${hex}\r\n`;
        };
        if (r() < 0.5) out += urc();
        out += `AT+Q${i}=${i}\r\n`;
        if (r() < 0.5) out += urc();
        out += r() < 0.8 ? 'OK\r\n' : 'AT_PARAM_ERROR\r\n';
        if (r() < 0.5) out += urc();
        const b = Buffer.from(out);
        for (let k = 0; k < b.length; ) {
          const len = 1 + Math.floor(r() * 9);
          e.feed(b.subarray(k, k + len));
          k += len;
        }
        const res = await p.then(
          (x) => x.lines,
          (err: Error) => (isAtError(err, 'error') ? err.lines : assert.fail(err)),
        );
        assert.deepEqual(res, [`AT+Q${i}=${i}`], `seed ${seed} command ${i}`);
      }
      assert.deepEqual(urcs, wantUrcs, `seed ${seed}`);
      void say;
    }
  });
});
