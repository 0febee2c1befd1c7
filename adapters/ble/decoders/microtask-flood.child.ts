import { loadUserDecoder } from './user.ts';

// Run by user.test.ts in a child process: a user decoder that floods the microtask queue. Outside
// the test runner, whose async hooks a vm timeout in the middle of a microtask checkpoint corrupts
// (a Node.js limitation: the decoder would be stopped, but the runner aborts).

const d = loadUserDecoder({ name: 'flood', file: 'flood.js', manufacturer_id: 0x59 }, 100, 'module.exports = () => { const again = () => Promise.resolve().then(again); again(); return { a: 1 }; }');
const r = d.run({ id: 'c0:ff:ee:00:00:01', bytes: [0x59, 0x00] });
setImmediate(() => process.stdout.write(`${JSON.stringify({ result: r, loopAlive: true })}\n`));
