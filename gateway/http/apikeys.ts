import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ApiKeyRecord {
  name: string;
  key: string;
  /** SHA-256 of the secret, hex. The secret is 192 random bits: a slow hash adds nothing but latency. */
  secret_sha256: string;
  created_at: string;
}

const FILE = 'api_keys.json';
/** A random token the running gateway writes for `fieldgate` commands on the same machine. */
export const CLI_TOKEN_FILE = 'cli_token';
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * API keys in `<data_dir>/api_keys.json` (mode 0600), secrets stored hashed. `fieldgate apikey`
 * writes the file; the running gateway re-reads it when it changes, so a new key works at once.
 */
export class ApiKeyStore {
  private records: ApiKeyRecord[] = [];
  private stamp = '';
  readonly file: string;

  constructor(private readonly dataDir: string) {
    this.file = join(dataDir, FILE);
  }

  private refresh(): void {
    let m: string;
    try {
      // Each save renames a new file into place: a new inode, even within one mtime tick.
      const st = statSync(this.file);
      m = `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      this.records = [];
      this.stamp = '';
      return;
    }
    if (m === this.stamp) return;
    const doc = JSON.parse(readFileSync(this.file, 'utf8')) as { keys?: ApiKeyRecord[] };
    this.records = Array.isArray(doc.keys) ? doc.keys.filter((k) => typeof k?.key === 'string' && typeof k.secret_sha256 === 'string') : [];
    this.stamp = m;
  }

  list(): Omit<ApiKeyRecord, 'secret_sha256'>[] {
    this.refresh();
    return this.records.map(({ name, key, created_at }) => ({ name, key, created_at }));
  }

  get count(): number {
    this.refresh();
    return this.records.length;
  }

  /** Creates a key; the secret is returned once and never stored in clear. */
  create(name: string): { name: string; key: string; secret: string } {
    if (!NAME.test(name)) throw new Error(`invalid key name "${name}": a letter, then letters, digits, "_" or "-" (at most 64)`);
    this.refresh();
    if (this.records.some((r) => r.name === name)) throw new Error(`an API key named "${name}" exists already (fieldgate apikey delete ${name} first)`);
    const key = randomBytes(8).toString('hex');
    const secret = randomBytes(24).toString('base64url');
    this.records.push({ name, key, secret_sha256: sha256(secret).toString('hex'), created_at: new Date().toISOString() });
    this.save();
    return { name, key, secret };
  }

  delete(name: string): boolean {
    this.refresh();
    const before = this.records.length;
    this.records = this.records.filter((r) => r.name !== name);
    if (this.records.length === before) return false;
    this.save();
    return true;
  }

  /**
   * Writes a fresh `<data_dir>/cli_token` (mode 0600): whoever may read the data directory may
   * already do anything to the gateway, so a CLI that can read it may write through the API too,
   * from loopback only. Returns the token.
   */
  issueCliToken(): string {
    mkdirSync(this.dataDir, { recursive: true });
    const token = randomBytes(24).toString('base64url');
    const file = join(this.dataDir, CLI_TOKEN_FILE);
    writeFileSync(`${file}.tmp`, `${token}\n`, { mode: 0o600 });
    renameSync(`${file}.tmp`, file);
    this.cliToken = sha256(token);
    return token;
  }

  private cliToken?: Buffer;

  verifyCliToken(token: string): boolean {
    return this.cliToken !== undefined && timingSafeEqual(this.cliToken, sha256(token));
  }

  /** The key's name when `key:secret` is valid. Constant time in the secret. */
  verify(key: string, secret: string): string | undefined {
    this.refresh();
    const rec = this.records.find((r) => r.key === key);
    const want = rec ? Buffer.from(rec.secret_sha256, 'hex') : sha256('no such key');
    const ok = timingSafeEqual(want, sha256(secret));
    return rec && ok ? rec.name : undefined;
  }

  private save(): void {
    mkdirSync(this.dataDir, { recursive: true });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, keys: this.records }, null, 1)}\n`, { mode: 0o600 });
    renameSync(tmp, this.file);
    this.stamp = '';
  }
}
