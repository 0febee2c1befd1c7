import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { rng } from '../test/random.ts';
import { filterCovers, filterReaches, filtersOverlap, topicMatches } from './topic.ts';

/** The definition, level by level on split arrays: what topicMatches must agree with. */
function reference(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

describe('topicMatches', () => {
  it('follows the examples of MQTT 3.1.1 section 4.7', () => {
    const cases: [string, string, boolean][] = [
      ['sport/tennis/player1/#', 'sport/tennis/player1', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/ranking', true],
      ['sport/tennis/player1/#', 'sport/tennis/player1/score/wimbledon', true],
      ['sport/#', 'sport', true],
      ['#', 'anything/at/all', true],
      ['sport/tennis/+', 'sport/tennis/player1', true],
      ['sport/tennis/+', 'sport/tennis/player1/ranking', false],
      ['sport/+', 'sport', false],
      ['sport/+', 'sport/', true],
      ['+/+', '/finance', true],
      ['/+', '/finance', true],
      ['+', '/finance', false],
      ['+', '', true],
      ['#', '$SYS/broker/uptime', false],
      ['+/monitor/Clients', '$SYS/monitor/Clients', false],
      ['$SYS/#', '$SYS/monitor/Clients', true],
      ['$SYS/monitor/+', '$SYS/monitor/Clients', true],
      ['a/b', 'a/b', true],
      ['a/b', 'a/bc', false],
      ['a/bc', 'a/b', false],
      ['a/b', 'a/b/', false],
      ['a//b', 'a//b', true],
      ['a/+/b', 'a//b', true],
      ['ACCOUNTS', 'Accounts', false],
    ];
    for (const [filter, topic, want] of cases) assert.equal(topicMatches(filter, topic), want, `${filter} vs ${topic}`);
  });

  it('agrees with the level-by-level definition on seeded random filters and topics', () => {
    const rand = rng(4711);
    const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
    const levels = ['', 'a', 'b', 'ab', 'dev', '$SYS', 'é', ' '];
    const topicOf = () => Array.from({ length: 1 + Math.floor(rand() * 4) }, () => pick(levels)).join('/');
    const filterOf = () => {
      const n = 1 + Math.floor(rand() * 4);
      const parts = Array.from({ length: n }, () => (rand() < 0.25 ? '+' : pick(levels)));
      if (rand() < 0.3) parts[n - 1] = '#';
      return parts.join('/');
    };
    for (let i = 0; i < 20_000; i++) {
      const filter = filterOf();
      const topic = topicOf();
      assert.equal(topicMatches(filter, topic), reference(filter, topic), `seed 4711, case ${i}: ${JSON.stringify(filter)} vs ${JSON.stringify(topic)}`);
    }
  });
});

// The filter-against-filter walkers must agree with the one matcher, topicMatches: checked
// exhaustively over every filter and topic of up to three levels from a small alphabet.
test('filterCovers, filtersOverlap and filterReaches agree with topicMatches on every small case', () => {
  const levels = ['a', 'b', '$x', ''];
  const topics: string[] = [];
  const grow = (prefix: string[], depth: number) => {
    if (prefix.length) topics.push(prefix.join('/'));
    if (depth === 0) return;
    for (const l of levels) if (prefix.length || l !== '' || depth === 4) grow([...prefix, l], depth - 1);
  };
  grow([], 4);
  const filters: string[] = [];
  const growF = (prefix: string[], depth: number) => {
    if (prefix.length) filters.push(prefix.join('/'));
    if (depth === 0 || prefix.at(-1) === '#') return;
    for (const l of ['a', '$x', '+', '#']) growF([...prefix, l], depth - 1);
  };
  growF([], 3);
  const matched = new Map(filters.map((f) => [f, new Set(topics.filter((t) => topicMatches(f, t)))]));
  for (const a of filters) {
    for (const b of filters) {
      const ma = matched.get(a)!;
      const mb = matched.get(b)!;
      const overlap = [...ma].some((t) => mb.has(t));
      assert.equal(filtersOverlap(a, b), overlap, `filtersOverlap(${a}, ${b})`);
      // Covers is checked where the small alphabet can tell (every topic b takes, a takes too).
      if (filterCovers(a, b)) assert.ok([...mb].every((t) => ma.has(t)), `filterCovers(${a}, ${b}) but ${b} takes a topic ${a} does not`);
    }
    assert.equal(filterReaches(a, '$x/'), [...matched.get(a)!].some((t) => t === '$x' || t.startsWith('$x/')), `filterReaches(${a}, $x/)`);
  }
});
