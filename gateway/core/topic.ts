// MQTT topic rules (MQTT 3.1.1 section 4.7), shared by the broker, adapters' message API and the bridge.

/**
 * True when `topic` (a concrete topic name) matches `filter` (which may hold + and #). Runs on
 * every message (ACL, forward rules, adapters), so it walks both strings in place rather than
 * splitting them into arrays.
 */
export function topicMatches(filter: string, topic: string): boolean {
  // [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with $.
  if (topic.charCodeAt(0) === DOLLAR && (filter.charCodeAt(0) === PLUS || filter.charCodeAt(0) === HASH)) return false;
  let fi = 0;
  let ti = 0;
  let topicDone = false;
  for (;;) {
    let fe = filter.indexOf('/', fi);
    if (fe < 0) fe = filter.length;
    const oneChar = fe - fi === 1;
    // '#' also matches the parent level: "a/#" takes "a".
    if (oneChar && filter.charCodeAt(fi) === HASH) return true;
    if (topicDone) return false;
    let te = topic.indexOf('/', ti);
    if (te < 0) te = topic.length;
    if (!(oneChar && filter.charCodeAt(fi) === PLUS)) {
      if (fe - fi !== te - ti) return false;
      for (let k = 0; k < fe - fi; k++) if (filter.charCodeAt(fi + k) !== topic.charCodeAt(ti + k)) return false;
    }
    if (fe === filter.length) return te === topic.length;
    fi = fe + 1;
    if (te === topic.length) topicDone = true;
    else ti = te + 1;
  }
}

const DOLLAR = 0x24;
const PLUS = 0x2b;
const HASH = 0x23;

/** Why a topic name cannot be published to, or undefined when it is valid. */
export function invalidTopicName(topic: string): string | undefined {
  if (topic.length === 0) return 'empty topic';
  if (Buffer.byteLength(topic) > 65535) return 'topic longer than 65535 bytes';
  if (topic.includes('+') || topic.includes('#')) return 'wildcards (+, #) are not allowed in a topic name';
  if (topic.includes('\u0000')) return 'NUL character in topic';
  return undefined;
}

/** Why a topic filter is invalid, or undefined when it is valid. */
export function invalidTopicFilter(filter: string): string | undefined {
  if (filter.length === 0) return 'empty topic filter';
  if (filter.includes('\u0000')) return 'NUL character in topic filter';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const l = levels[i];
    if (l!.includes('#') && (l !== '#' || i !== levels.length - 1)) return '"#" must be a whole last level';
    if (l!.includes('+') && l !== '+') return '"+" must be a whole level';
  }
  return undefined;
}

// Filter against filter (ACL rules against SUBSCRIBE filters). Levels are compared whole, so
// these split; they run per SUBSCRIBE, not per message.

/** Every topic matched by `inner` is matched by `outer` (outer covers inner). */
export function filterCovers(outer: string, inner: string): boolean {
  const o = outer.split('/');
  const i = inner.split('/');
  for (let k = 0; k < o.length; k++) {
    if (o[k] === '#') return !(k === 0 && i[0]?.startsWith('$'));
    if (k >= i.length) return false;
    if (i[k] === '#') return false;
    if (o[k] === '+') {
      if (k === 0 && i[0]!.startsWith('$')) return false;
      continue;
    }
    if (o[k] !== i[k]) return false;
  }
  return o.length === i.length;
}

/** Some topic is matched by both filters. */
export function filtersOverlap(a: string, b: string): boolean {
  const x = a.split('/');
  const y = b.split('/');
  if ((x[0] === '#' || x[0] === '+') && y[0]?.startsWith('$')) return false;
  if ((y[0] === '#' || y[0] === '+') && x[0]?.startsWith('$')) return false;
  for (let k = 0; k < Math.max(x.length, y.length); k++) {
    if (x[k] === '#' || y[k] === '#') return true;
    if (x[k] === undefined || y[k] === undefined) return false;
    if (x[k] !== '+' && y[k] !== '+' && x[k] !== y[k]) return false;
  }
  return true;
}

/** Could a subscription to `filter` ever receive a message on a topic under `prefix` (e.g. "$SYS/")? */
export function filterReaches(filter: string, prefix: string): boolean {
  return filtersOverlap(filter, `${prefix.replace(/\/$/, '')}/#`);
}
