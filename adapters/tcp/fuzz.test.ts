import assert from 'node:assert/strict';
import { connect as netConnect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { until } from '../../gateway/test/helpers.ts';
import { TcpDevice } from '../../firmware-sim/tcp/client.ts';
import { encodeAck, encodeConnect, encodeData } from './codec.ts';
import { rng, startTcpGateway, type TcpTestGateway } from './test-kit.ts';

// Random and mutated byte streams from many devices at once, against a real gateway. The pure
// parser has its own, larger fuzz (parser.test.ts); this one checks what only the running adapter
// can show: nothing escapes as an exception, every bad connection is closed without touching the
// others, nothing hangs, and repeated rounds leave no memory behind.

const CONNS_PER_ROUND = Number(process.env.FIELDGATE_TCP_FUZZ_CONNS ?? 300);
const CHUNKS = 4;
const ROUNDS = 3;
const PARALLEL = 30;

function gcFn(): (() => void) | undefined {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as (() => void) | undefined;
}

describe('tcp adapter fuzz over real TCP (seeded)', () => {
  let g: TcpTestGateway;
  const uncaught: Error[] = [];
  const onUncaught = (err: Error) => uncaught.push(err);

  before(async () => {
    process.on('uncaughtException', onUncaught);
    g = await startTcpGateway({ idle_timeout: '200ms', max_packet_size: 512, v2: { session_expiry: '300ms', retry_interval: '100ms' } });
  });
  after(async () => {
    process.off('uncaughtException', onUncaught);
    await g.stop();
  });

  function streamFor(rand: () => number, n: number): Buffer[] {
    const int = (k: number) => Math.floor(rand() * k);
    const valid = [
      encodeData(Buffer.from('payload')),
      encodeData(Buffer.from('q1'), { id: int(65536) }),
      encodeAck(int(65536)),
      Buffer.from([0x40]),
      encodeConnect({ keepalive: 1, clientid: `f${n % 7}` }),
      Buffer.from([0x60]),
    ];
    const chunks: Buffer[] = [];
    // Mostly start with a good CONNECT (v1 or v2), so the fuzz reaches the connected states.
    if (rand() < 0.8) chunks.push(encodeConnect({ version: rand() < 0.5 ? 1 : 2, keepalive: 1, resume: false, clientid: `fuzz-${n % 50}` }));
    for (let c = 0; c < CHUNKS; c++) {
      let b: Buffer;
      if (rand() < 0.3) b = Buffer.from(Array.from({ length: int(80) }, () => int(256)));
      else {
        b = Buffer.concat(Array.from({ length: 1 + int(4) }, () => valid[int(valid.length)]!));
        for (let m = int(3); m > 0; m--) b[int(b.length)] = int(256);
      }
      chunks.push(b);
    }
    return chunks;
  }

  /** One device: write the chunks, then give the gateway a moment to close it, then hang up. */
  function hammer(port: number, chunks: Buffer[]): Promise<void> {
    return new Promise((resolve) => {
      const s = netConnect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      s.on('data', () => {});
      const done = setTimeout(() => s.destroy(), 300);
      s.on('close', () => {
        clearTimeout(done);
        resolve();
      });
      const feed = async () => {
        for (const c of chunks) {
          if (s.destroyed) break;
          s.write(c);
          await new Promise((r) => setImmediate(r));
        }
      };
      s.on('connect', () => void feed());
    });
  }

  test(`${ROUNDS} rounds x ${CONNS_PER_ROUND} connections x ${CHUNKS} chunks: bystander unaffected, all closed, no leak`, async () => {
    const rand = rng(0x7c9e11);
    const gc = gcFn();
    const bystander = new TcpDevice({ port: g.tcpPort, clientid: 'bystander', version: 2, keepalive: 30 });
    await bystander.connect();
    const heap: number[] = [];
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const jobs = Array.from({ length: CONNS_PER_ROUND }, () => streamFor(rand, n++));
      let next = 0;
      await Promise.all(
        Array.from({ length: PARALLEL }, async () => {
          while (next < jobs.length) await hammer(g.tcpPort, jobs[next++]!);
        }),
      );
      // The bystander is served between rounds, with every message acknowledged.
      assert.equal(await bystander.publish(`round ${round}`), 0);
      await until(() => g.metric('connections/count') === 1, `fuzz connections closed after round ${round}`);
      await until(() => g.metric('sessions') <= 1, 'remembered fuzz sessions expired', 5000);
      if (gc) {
        gc();
        heap.push(process.memoryUsage().heapUsed);
      }
    }
    assert.deepEqual(uncaught, []);
    assert.ok(g.metric('closed/parse_error') > 0, 'the fuzz never reached the parse_error path');
    assert.ok(g.gw.health().every((h) => h.state === 'running' && h.restarts === 0), JSON.stringify(g.gw.health()));
    if (heap.length === ROUNDS) {
      // Rounds 2 and 3 do the same work as round 1: state that survives a round would show here.
      const growth = heap[ROUNDS - 1]! - heap[0]!;
      assert.ok(growth < 8 * 1024 * 1024, `heap grew ${Math.round(growth / 1024)} KB over ${ROUNDS - 1} rounds`);
    }
    await bystander.disconnect();
  });
});
