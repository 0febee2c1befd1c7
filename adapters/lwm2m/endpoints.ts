// Config-mapped credentials (`adapters.lwm2m.endpoints`): standard LwM2M clients cannot add
// `imei`/`password` to their Register, so an endpoint name (exact, or a `*` pattern such as
// `urn:imei:35*`) is mapped to a user of auth.users and/or to the source addresses it may register
// from. Over plain UDP this identifies a device; it does not prove who it is (no DTLS here).
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';

/** "10.0.0.0/8", "fd00::/8", or a single address (/32, /128). Undefined when it is none of those. */
export function parseCidr(text: string): { address: string; prefix: number; family: 'ipv4' | 'ipv6' } | undefined {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  const raw = slash < 0 ? String(max) : text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(raw) || Number(raw) > max) return undefined;
  return { address, prefix: Number(raw), family: v === 4 ? 'ipv4' : 'ipv6' };
}

const cidr = z.string().refine((s) => parseCidr(s) !== undefined, { error: (i) => `${JSON.stringify(i.input)} is not an address or CIDR block like 10.0.0.0/8 or fd00::/8` });

/** One `adapters.lwm2m.endpoints[]` entry. */
export const endpointRuleSchema = z
  .strictObject({
    /** The endpoint name, exactly, or with `*` standing for any run of characters (`urn:imei:35*`). */
    match: z.string().min(1),
    /** The user (in auth.users) the device acts as: its ACL rules apply. No password is asked. */
    username: z.string().min(1).optional(),
    /** Registrations are accepted only from these addresses / CIDR blocks. */
    sources: z.array(cidr).min(1).optional(),
  })
  .refine((r) => r.username !== undefined || r.sources !== undefined, { error: 'an endpoints entry needs username, sources, or both' });

export type EndpointRule = z.output<typeof endpointRuleSchema>;

function globToRegExp(pattern: string): RegExp {
  const body = pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`, 's');
}

interface Compiled {
  rule: EndpointRule;
  re: RegExp;
  allowed?: BlockList;
}

/** What the map says about one Register: who the device is, or why it may not register. */
export type EndpointDecision = { ok: true; rule: EndpointRule; username?: string } | { ok: false; rule: EndpointRule; detail: string };

/** The configured entries, tried in order: the first whose `match` fits the endpoint name decides. */
export class EndpointMap {
  private readonly rules: Compiled[];

  constructor(rules: readonly EndpointRule[]) {
    this.rules = rules.map((rule) => {
      const c: Compiled = { rule, re: globToRegExp(rule.match) };
      if (rule.sources) {
        c.allowed = new BlockList();
        for (const s of rule.sources) {
          const p = parseCidr(s)!;
          c.allowed.addSubnet(p.address, p.prefix, p.family);
        }
      }
      return c;
    });
  }

  get size(): number {
    return this.rules.length;
  }

  /** Undefined when no entry matches `ep` (the device then authenticates as before). */
  decide(ep: string, address: string): EndpointDecision | undefined {
    const c = this.rules.find((r) => r.re.test(ep));
    if (!c) return undefined;
    if (c.allowed && !fromAllowed(c.allowed, address)) return { ok: false, rule: c.rule, detail: `endpoint "${ep}" may not register from ${address} (adapters.lwm2m.endpoints "${c.rule.match}")` };
    return { ok: true, rule: c.rule, username: c.rule.username };
  }
}

function fromAllowed(list: BlockList, address: string): boolean {
  // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d: check those against IPv4 blocks.
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
  if (mapped) return list.check(mapped, 'ipv4') || list.check(address, 'ipv6');
  const v = isIP(address);
  return v !== 0 && list.check(address, v === 4 ? 'ipv4' : 'ipv6');
}
