import { pathToFileURL } from 'node:url';
import { RawClient } from '../../gateway/test/raw-mqtt.ts';

// The attacker of the login-flood scenario, in its own process at the default niceness (a remote
// host does not step aside when the gateway wants the CPU): wrong-password CONNECTs for USER from
// FROM, each on a new TCP connection, paced at RATE attempts a second (started every 5 ms in
// batches, at most MAX_IN_FLIGHT unanswered; a start skipped at that bound counts as `skipped`).
// It floods only between a line `on` and a line `off` on stdin, and exits at `stop` (or the end of
// stdin), printing one JSON line: attempts, seconds flooded, CONNACK codes seen, connections closed
// without one, skipped starts and its own CPU seconds. Prints `ready` first and `on` / `off` when
// it has switched. Exports no scenario: bench/run.ts imports it and skips it.
//   node --import tsx bench/scenarios/login-flood-flooder.ts PORT RATE USER FROM

const TICK_MS = 5;
const MAX_IN_FLIGHT = 1000;

async function attempt(port: number, from: string, user: string, i: number): Promise<string> {
  try {
    const { client, code } = await RawClient.connect(port, { clientId: `flood-${i}`, username: user, password: `guess${i}` }, from);
    client.destroy();
    return String(code);
  } catch {
    return 'closed';
  }
}

async function main(): Promise<void> {
  const [port, rate, user, from] = [Number(process.argv[2]), Number(process.argv[3]), process.argv[4] ?? 'bob', process.argv[5] ?? '127.0.0.1'];
  const codes: Record<string, number> = {};
  let attempts = 0;
  let skipped = 0;
  let inFlight = 0;
  let onSince: bigint | undefined;
  let onNs = 0n;
  let due = 0; // attempts owed by the pace
  let timer: NodeJS.Timeout | undefined;
  let owedSince = 0n;
  let startedSince = 0;
  const tick = () => {
    // Paced by the clock, not by the ticks (a late timer sends the attempts it owes).
    due = (Number(process.hrtime.bigint() - owedSince) / 1e9) * rate - startedSince;
    for (; due >= 1; due--, startedSince++) {
      if (inFlight >= MAX_IN_FLIGHT) {
        skipped++;
        continue;
      }
      inFlight++;
      void attempt(port, from, user, attempts++).then((c) => {
        inFlight--;
        codes[c] = (codes[c] ?? 0) + 1;
      });
    }
  };
  const off = () => {
    if (timer) clearInterval(timer);
    timer = undefined;
    if (onSince !== undefined) onNs += process.hrtime.bigint() - onSince;
    onSince = undefined;
  };
  let buf = '';
  let finishing = false;
  const finish = async () => {
    if (finishing) return; // `stop` and then the end of stdin: one report
    finishing = true;
    off();
    while (inFlight > 0) await new Promise((r) => setTimeout(r, 10));
    const cpu = process.cpuUsage();
    process.stdin.destroy();
    process.stdout.write(`${JSON.stringify({ attempts, secs: Number(onNs) / 1e9, codes, skipped, cpu_s: (cpu.user + cpu.system) / 1e6 })}\n`);
  };
  process.stdin.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const cmd = buf.slice(0, i).trim();
      buf = buf.slice(i + 1);
      if (cmd === 'on' && !timer) {
        onSince = process.hrtime.bigint();
        owedSince = onSince;
        startedSince = 0;
        timer = setInterval(tick, TICK_MS);
        process.stdout.write('on\n');
      } else if (cmd === 'off') {
        off();
        process.stdout.write('off\n');
      } else if (cmd === 'stop') void finish();
    }
  });
  process.stdin.on('end', () => void finish());
  process.stdout.write('ready\n');
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
