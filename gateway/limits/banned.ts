import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addressMatches } from '../auth/acl.ts';

/** EMQX's ban kinds (emqx_banned): exact, regular expression, or a CIDR block for addresses. */
export const BAN_KINDS = ['clientid', 'username', 'peerhost', 'clientid_re', 'username_re', 'peerhost_net'] as const;
export type BanKind = (typeof BAN_KINDS)[number];

export interface Ban {
  as: BanKind;
  who: string;
  by: string;
  reason: string;
  /** Epoch ms. */
  at: number;
  /** Epoch ms; undefined = EMQX's "infinity". */
  until?: number;
}

/** Who is connecting, as far as a ban can tell. */
export interface Candidate {
  clientid?: string;
  username?: string;
  ipaddress?: string;
}

const FILE = 'banned.json';

export class BanError extends Error {
  constructor(readonly code: 'ALREADY_EXISTS' | 'BAD_REQUEST' | 'NOT_FOUND', message: string) {
    super(message);
  }
}

interface Entry extends Ban {
  re?: RegExp;
}

function keyOf(as: string, who: string): string {
  return `${as}\u0000${who}`;
}

/**
 * The banned list: kept in memory, saved to `<data_dir>/banned.json` on every change (changes are
 * rare, operator-made) through a temp file and rename. Expired bans stop matching at once and are
 * dropped from the file on the next change.
 */
export class BanList {
  private readonly bans = new Map<string, Entry>();

  constructor(private readonly dataDir: string, private readonly now: () => number = Date.now) {}

  /** Loads the saved list; returns a warning when the file was unreadable (the list then starts empty). */
  load(): string | undefined {
    let doc: { bans?: Ban[] };
    try {
      doc = JSON.parse(readFileSync(join(this.dataDir, FILE), 'utf8')) as { bans?: Ban[] };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return `cannot read the banned list ${join(this.dataDir, FILE)}: ${(err as Error).message}; starting with no bans (fix or delete the file)`;
    }
    for (const b of doc.bans ?? []) {
      try {
        this.put(b);
      } catch {
        // A hand-edited entry that no longer compiles: skip it, keep the rest.
      }
    }
    return undefined;
  }

  private put(b: Ban): Entry {
    if (!(BAN_KINDS as readonly string[]).includes(b.as)) throw new BanError('BAD_REQUEST', `unknown ban type "${b.as}"; one of ${BAN_KINDS.join(', ')}`);
    const e: Entry = { ...b };
    if (b.as.endsWith('_re')) {
      try {
        e.re = new RegExp(b.who);
      } catch (err) {
        throw new BanError('BAD_REQUEST', `invalid regular expression "${b.who}": ${(err as Error).message}`);
      }
    }
    if (b.as === 'peerhost_net' && !/^[\d.]+\/\d{1,2}$/.test(b.who)) throw new BanError('BAD_REQUEST', `"${b.who}" is not an IPv4 CIDR block such as 192.168.1.0/24`);
    this.bans.set(keyOf(b.as, b.who), e);
    return e;
  }

  private active(e: Entry): boolean {
    return e.until === undefined || e.until > this.now();
  }

  add(b: Ban): Ban {
    const existing = this.bans.get(keyOf(b.as, b.who));
    if (existing && this.active(existing)) throw new BanError('ALREADY_EXISTS', JSON.stringify(strip(existing)));
    if (b.until !== undefined && b.until <= this.now()) throw new BanError('BAD_REQUEST', 'Cannot create expired banned');
    const e = this.put(b);
    this.save();
    return strip(e);
  }

  remove(as: string, who: string): boolean {
    if (!this.bans.delete(keyOf(as, who))) return false;
    this.save();
    return true;
  }

  clear(): void {
    this.bans.clear();
    this.save();
  }

  list(): Ban[] {
    return [...this.bans.values()].filter((e) => this.active(e)).map(strip);
  }

  /** The first active ban that covers `c`, if any. */
  match(c: Candidate): Ban | undefined {
    if (this.bans.size === 0) return undefined;
    for (const e of this.bans.values()) {
      if (!this.active(e)) continue;
      if (covers(e, c)) return strip(e);
    }
    return undefined;
  }

  private save(): void {
    mkdirSync(this.dataDir, { recursive: true });
    const tmp = join(this.dataDir, `${FILE}.tmp`);
    writeFileSync(tmp, JSON.stringify({ version: 1, bans: this.list() }, null, 1));
    renameSync(tmp, join(this.dataDir, FILE));
  }
}

function covers(e: Entry, c: Candidate): boolean {
  switch (e.as) {
    case 'clientid':
      return c.clientid === e.who;
    case 'username':
      return c.username !== undefined && c.username === e.who;
    case 'peerhost':
      return addressMatches(e.who, c.ipaddress);
    case 'peerhost_net':
      return addressMatches(e.who, c.ipaddress);
    case 'clientid_re':
      return c.clientid !== undefined && e.re!.test(c.clientid);
    case 'username_re':
      return c.username !== undefined && e.re!.test(c.username);
  }
}

function strip(e: Entry): Ban {
  return { as: e.as, who: e.who, by: e.by, reason: e.reason, at: e.at, until: e.until };
}
