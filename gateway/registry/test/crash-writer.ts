import { DeviceRegistry } from '../registry.ts';

// Test child for registry.test.ts: writes to a registry in argv[2] without pause (new devices, a
// moving address, snapshots every few ms) and prints "durable <batch>" after each fsync'd batch,
// until the parent kills it with SIGKILL at an arbitrary point of a write.
const dir = process.argv[2]!;
const first = Number(process.argv[3] ?? 0);
const reg = new DeviceRegistry(dir, 1, Date.now, 1_000_000, { compactInterval: 5 });
const problem = reg.load();
if (problem) process.stderr.write(`${problem}\n`);
for (let b = first; ; b++) {
  for (let i = 0; i < 50; i++) reg.seen({ protocol: 'crash', id: `b${b}-d${i}`, address: `10.0.${b % 250}.${i}:5683` });
  reg.seen({ protocol: 'crash', id: 'mover', address: `batch-${b}` });
  await reg.sync();
  process.stdout.write(`durable ${b}\n`);
}
