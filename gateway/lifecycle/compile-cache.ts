import module from 'node:module';
import { join } from 'node:path';

// V8's code cache for the bundle's modules (Node.js >= 22.1, `module.enableCompileCache`): a start
// with a warm cache deserialises each chunk's compiled top-level code instead of parsing and
// compiling it again (docs/raspberry-pi.md, "Start-up time"). Where the cache lives:
//  - NODE_COMPILE_CACHE when set (Node.js enabled it itself, before the entry was read);
//  - else systemd's CacheDirectory= ($CACHE_DIRECTORY, /var/cache/fieldgate with the shipped unit);
//  - else nowhere: a shell or a container run writes no cache unless asked (NODE_COMPILE_CACHE).
// Older Node.js has no such API and runs as before. A directory that cannot be written (read-only,
// full) only means no cache: Node.js reports it in the returned status, it never throws for it.

interface CompileCacheApi {
  enableCompileCache?: (dir?: string) => { status: number; message?: string; directory?: string };
  flushCompileCache?: () => void;
  getCompileCacheDir?: () => string | undefined;
  constants?: { compileCacheStatus?: Record<string, number> };
}

// The cast: these are node:module's documented functions from Node.js 22.1 on; @types/node 20 (the
// oldest Node.js we support) does not declare them, so each is optional and checked before use.
const api = module as unknown as CompileCacheApi;

export interface CompileCacheState {
  /** enabled, already (NODE_COMPILE_CACHE), failed, unsupported (Node.js < 22.1) or off (no directory given). */
  state: 'enabled' | 'already' | 'failed' | 'unsupported' | 'off';
  directory?: string;
  message?: string;
}

/** Called by the bundle's entry before it imports the rest of the gateway. */
export function enableCompileCache(env: NodeJS.ProcessEnv = process.env): CompileCacheState {
  if (typeof api.enableCompileCache !== 'function') return { state: 'unsupported' };
  const already = api.getCompileCacheDir?.();
  if (already) return { state: 'already', directory: already };
  if (!env.CACHE_DIRECTORY) return { state: 'off' };
  // systemd may list several directories, separated by ':'; the unit names one.
  const directory = join(env.CACHE_DIRECTORY.split(':')[0]!, 'node-compile-cache');
  try {
    const r = api.enableCompileCache(directory);
    const codes = api.constants?.compileCacheStatus ?? {};
    if (r.status === codes.ENABLED) return { state: 'enabled', directory: r.directory ?? directory };
    if (r.status === codes.ALREADY_ENABLED) return { state: 'already', directory: r.directory ?? directory };
    return { state: 'failed', directory, message: r.message };
  } catch (err) {
    return { state: 'failed', directory, message: (err as Error).message };
  }
}

/**
 * Writes the cache now rather than at exit (Node.js >= 22.10): a gateway that is unplugged or
 * killed by the watchdog never exits cleanly, and would otherwise compile everything again at
 * every boot. Called once the gateway is ready, when every module a start needs has been loaded.
 */
export function flushCompileCache(): void {
  try {
    if (api.getCompileCacheDir?.()) api.flushCompileCache?.();
  } catch {
    // a cache that cannot be written is only a slower next start
  }
}
