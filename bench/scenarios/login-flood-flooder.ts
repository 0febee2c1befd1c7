import { pathToFileURL } from 'node:url';
import { RawClient } from '../../gateway/test/raw-mqtt.ts';

// The attacker of the login-flood scenario, in its own process (so its CPU is not the gateway's or
// the measuring client's): COUNT wrong-password CONNECTs from FROM, CONCURRENCY at a time, each on
// a new TCP connection, and on past COUNT until a line `stop` arrives on stdin (the measuring side
// sends it once it has enough samples; at once if COUNT is enough). Prints `go` when it starts,
// then one JSON line: attempts, CONNACK codes seen, connections closed without one, seconds and
// its own CPU seconds. Exports no scenario: bench/run.ts imports it and skips it.
//   node --import tsx bench/scenarios/login-flood-flooder.ts PORT COUNT CONCURRENCY FROM

async function attempt(port: number, from: string, i: number): Promise<string> {
  try {
    const { client, code } = await RawClient.connect(port, { clientId: `flood-${i}`, username: 'alice', password: `guess${i}` }, from);
    client.destroy();
    return String(code);
  } catch {
    return 'closed';
  }
}

async function main(): Promise<void> {
  const [port, count, concurrency, from] = [Number(process.argv[2]), Number(process.argv[3]), Number(process.argv[4]), process.argv[5] ?? '127.0.0.1'];
  const codes: Record<string, number> = {};
  let stopped = false;
  process.stdin.on('data', (d: Buffer) => {
    if (d.toString().includes('stop')) stopped = true;
  });
  process.stdin.on('end', () => (stopped = true));
  process.stdout.write('go\n'); // the measuring client starts its loaded samples here
  const t0 = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < count || !stopped) {
      const c = await attempt(port, from, next++);
      codes[c] = (codes[c] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const cpu = process.cpuUsage();
  process.stdin.destroy();
  process.stdout.write(`${JSON.stringify({ attempts: next, codes, secs: Number(process.hrtime.bigint() - t0) / 1e9, cpu_s: (cpu.user + cpu.system) / 1e6 })}\n`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
