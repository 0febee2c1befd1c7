import { isIP } from 'node:net';
import type { AclRule } from '../config/schema.ts';
import { filterCovers, filtersOverlap, topicMatches } from '../core/topic.ts';

export type AclAction = 'publish' | 'subscribe';

/** Who is asking: an MQTT client, or a device behind an adapter. */
export interface Principal {
  clientid: string;
  username?: string;
  ipaddress?: string;
  /** mqtt, coap, tcp, lwm2m, ... */
  protocol: string;
  /** For MQTT clients: the listener (tcp, tls, ws) they came in on. */
  listener?: string;
}

export type AclDecision = 'allow' | 'deny' | 'nomatch';

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, o) => (acc << 8) + Number(o), 0) >>> 0;
}

/** Exact address, or an IPv4 CIDR block like 192.168.1.0/24. IPv4-mapped IPv6 peers are unwrapped. */
export function addressMatches(pattern: string, ip: string | undefined): boolean {
  if (!ip) return false;
  const addr = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  const slash = pattern.indexOf('/');
  if (slash < 0) return pattern === addr;
  const base = pattern.slice(0, slash);
  const bits = Number(pattern.slice(slash + 1));
  if (isIP(base) !== 4 || isIP(addr) !== 4 || !(bits >= 0 && bits <= 32)) return false;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  return (ipv4ToInt(base) & mask) === (ipv4ToInt(addr) & mask);
}

export function isLoopback(ip: string | undefined): boolean {
  if (!ip) return false;
  if (ip === '::1') return true;
  // Asked on every publish of an anonymous local client: no CIDR arithmetic for 127.0.0.0/8.
  const v4 = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  return v4.startsWith('127.') && isIP(v4) === 4;
}

/**
 * `filter` with `%c` and `%u` replaced, or undefined when a placeholder cannot stand for one plain
 * topic level: a client id or username that is empty or holds "+", "#" or "/" would widen the rule
 * (a client named "#" matching devices/#), and one starting with "$" would turn `%c/#` into
 * `$SYS/#` [MQTT-4.7.2-1]: a substitution never produces a filter that starts with "$".
 */
export function expandPlaceholders(filter: string, p: { clientid: string; username?: string }): string | undefined {
  const plain = (v: string | undefined) => !!v && !/[+#/\u0000]/.test(v);
  if (filter.includes('%u') && !plain(p.username)) return undefined;
  if (filter.includes('%c') && !plain(p.clientid)) return undefined;
  const out = filter.replace(/%c/g, p.clientid).replace(/%u/g, p.username ?? '');
  if (out.startsWith('$') && !filter.startsWith('$')) return undefined;
  return out;
}

function ruleApplies(rule: AclRule, p: Principal, action: AclAction): boolean {
  if (rule.action !== 'all' && rule.action !== action) return false;
  if (rule.user !== undefined && rule.user !== p.username) return false;
  if (rule.clientid !== undefined && rule.clientid !== p.clientid) return false;
  if (rule.ipaddress !== undefined && !addressMatches(rule.ipaddress, p.ipaddress)) return false;
  return true;
}

function topicApplies(ruleFilter: string, topic: string, action: AclAction, permission: AclRule['permission']): boolean {
  if (action === 'publish') return topicMatches(ruleFilter, topic);
  // A subscription is allowed only if the rule covers all of it, and denied if the rule touches any
  // of it: a deny on `secret/#` also stops a subscription to `#` from reading secrets.
  return permission === 'allow' ? filterCovers(ruleFilter, topic) : filtersOverlap(ruleFilter, topic);
}

/** First matching rule wins. `topic` is a topic name for publish and a topic filter for subscribe. */
export function checkAcl(rules: readonly AclRule[], p: Principal, action: AclAction, topic: string): AclDecision {
  for (const rule of rules) {
    if (!ruleApplies(rule, p, action)) continue;
    for (const raw of rule.topics) {
      const filter = expandPlaceholders(raw, p);
      if (filter === undefined) continue;
      if (topicApplies(filter, topic, action, rule.permission)) return rule.permission;
    }
  }
  return 'nomatch';
}

/**
 * Read permission for one message on topic name `topic` (delivery to a subscriber): subscribe /
 * all rules, first match wins, matched as a topic name.
 */
export function checkRead(rules: readonly AclRule[], p: Principal, topic: string): AclDecision {
  for (const rule of rules) {
    if (!ruleApplies(rule, p, 'subscribe')) continue;
    for (const raw of rule.topics) {
      const filter = expandPlaceholders(raw, p);
      if (filter !== undefined && topicMatches(filter, topic)) return rule.permission;
    }
  }
  return 'nomatch';
}

/**
 * Whether a broker subscription to `filter` is granted when every message is checked again at
 * delivery (Mosquitto's semantics): an allow rule that reaches any part of the filter grants it, a
 * deny rule refuses it only when it covers all of it; a deny that covers part is left to delivery.
 */
export function checkSubscribeGrant(rules: readonly AclRule[], p: Principal, filter: string): AclDecision {
  for (const rule of rules) {
    if (!ruleApplies(rule, p, 'subscribe')) continue;
    for (const raw of rule.topics) {
      const f = expandPlaceholders(raw, p);
      if (f === undefined) continue;
      if (rule.permission === 'allow' && filtersOverlap(f, filter)) return 'allow';
      if (rule.permission === 'deny' && filterCovers(f, filter)) return 'deny';
    }
  }
  return 'nomatch';
}
