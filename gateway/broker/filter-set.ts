// A client's topic filters, kept as the one filter itself while there is one and as a Set beyond
// that. Most devices hold a single subscription (their command topic), and a Set costs ~130 B of
// heap even with one entry: the broker kept two per connection (its table for retained $ topics and
// the subscription count, and broker.max_subscriptions' count), a fifteenth of an idle
// connection's memory (docs/raspberry-pi.md, "Where the idle memory goes").

/** undefined: none recorded; a string: exactly that filter; a Set: any number of them (none too). */
export type Filters = string | Set<string> | undefined;

/** `f` with `filter` added (the same Set, grown, once there are two). */
export function withFilter(f: Filters, filter: string): Filters {
  if (f === undefined || (typeof f !== 'string' && f.size === 0)) return filter;
  if (typeof f === 'string') return f === filter ? f : new Set([f, filter]);
  f.add(filter);
  return f;
}

/** `f` without `filter`; the last one removed leaves an empty Set (recorded, and none). */
export function withoutFilter(f: Filters, filter: string): Filters {
  if (typeof f === 'string') return f === filter ? new Set() : f;
  f?.delete(filter);
  return f;
}

export function hasFilter(f: Filters, filter: string): boolean {
  return typeof f === 'string' ? f === filter : f !== undefined && f.has(filter);
}

export function filterCount(f: Filters): number {
  return f === undefined ? 0 : typeof f === 'string' ? 1 : f.size;
}

export function filterList(f: Filters): Iterable<string> {
  return f === undefined ? [] : typeof f === 'string' ? [f] : f;
}
