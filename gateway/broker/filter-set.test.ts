import assert from 'node:assert/strict';
import { test } from 'node:test';
import { filterCount, filterList, hasFilter, withFilter, withoutFilter, type Filters } from './filter-set.ts';

test('one filter is kept as itself, more as a Set, and removing them all leaves a known empty set', () => {
  let f: Filters;
  assert.equal(filterCount(f), 0);
  f = withFilter(f, 'a/b');
  assert.equal(f, 'a/b');
  assert.equal(withFilter(f, 'a/b'), 'a/b', 'the same filter again: still one');
  f = withFilter(f, 'c/#');
  assert.ok(f instanceof Set);
  assert.deepEqual([...filterList(f)], ['a/b', 'c/#']);
  assert.ok(hasFilter(f, 'c/#') && !hasFilter(f, 'x'));
  f = withoutFilter(withoutFilter(f, 'a/b'), 'c/#');
  assert.ok(f instanceof Set && f.size === 0, 'recorded, and none (not undefined: mayForward treats that as unknown)');
  assert.equal(withFilter(f, 'd'), 'd');
  assert.deepEqual(withoutFilter('d', 'd'), new Set());
  assert.equal(withoutFilter('d', 'e'), 'd');
  assert.equal(withoutFilter(undefined, 'e'), undefined);
  assert.deepEqual([...filterList('x')], ['x']);
});
