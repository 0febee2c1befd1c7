import { mkdirSync, statSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { resolve } from 'node:path';

// One gateway per data directory: two would append to the same bridge log and overwrite each
// other's registry. The lock is a Linux abstract-namespace Unix socket named after the
// directory's device and inode: the kernel frees it the moment its process dies (kill -9
// included), so there is no stale lock file to clean up, and a second gateway's bind fails with
// EADDRINUSE at once. Whoever connects to it is told who holds the directory (PID, version,
// config, listening ports), which is how a refused start and `fieldgate doctor` name the other
// process. Abstract sockets are per network namespace: two containers with their own networks
// sharing one volume do not see each other's lock.

export interface LockHolder {
  pid: number;
  version?: string;
  config?: string;
  started_at?: string;
}

/** The abstract socket name for a directory (created if missing), by device and inode. */
export function lockName(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const st = statSync(dir, { bigint: true });
  return `\0fieldgate-data-dir:${st.dev}:${st.ino}`;
}

/** Asks the holder of `dir`'s lock who it is; undefined when nobody holds it. */
export function lockHolder(dir: string, timeoutMs = 2000): Promise<LockHolder | undefined> {
  let name: string;
  try {
    const st = statSync(dir, { bigint: true });
    name = `\0fieldgate-data-dir:${st.dev}:${st.ino}`;
  } catch {
    return Promise.resolve(undefined); // no directory: nobody holds it
  }
  return new Promise((done) => {
    const sock = createConnection(name);
    let text = '';
    const timer = setTimeout(() => sock.destroy(), timeoutMs);
    sock.on('data', (b) => (text += b.toString()));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      clearTimeout(timer);
      try {
        done(text ? (JSON.parse(text) as LockHolder) : undefined);
      } catch {
        done({ pid: 0 });
      }
    });
  });
}

export class DataDirInUse extends Error {
  constructor(readonly dir: string, readonly holder: LockHolder | undefined) {
    const who = holder?.pid
      ? `another fieldgate (PID ${holder.pid}${holder.version ? `, version ${holder.version}` : ''}${holder.config ? `, config ${holder.config}` : ''}${holder.started_at ? `, started ${holder.started_at}` : ''})`
      : 'another fieldgate';
    super(`data directory ${dir} is in use by ${who}; stop it, or give this one another gateway.data_dir`);
    this.name = 'DataDirInUse';
  }
}

export class DataDirLock {
  private constructor(private readonly server: Server, readonly info: LockHolder) {}

  /** Takes the lock on `dir` (creating it), or rejects with DataDirInUse naming the holder. */
  static async acquire(dir: string, info: Omit<LockHolder, 'pid'>): Promise<DataDirLock> {
    const abs = resolve(dir);
    const name = lockName(abs);
    const holder: LockHolder = { pid: process.pid, ...info };
    const server = createServer((c) => c.end(JSON.stringify(holder)));
    server.unref(); // the lock never keeps the process alive by itself
    await new Promise<void>((ok, fail) => {
      server.once('error', (err: NodeJS.ErrnoException) => {
        if (err.code !== 'EADDRINUSE') return fail(err);
        lockHolder(abs).then((h) => fail(new DataDirInUse(dir, h)), fail);
      });
      server.listen(name, ok);
    });
    return new DataDirLock(server, holder);
  }

  release(): Promise<void> {
    return new Promise((ok) => this.server.close(() => ok()));
  }
}
