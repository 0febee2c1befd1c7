import { loadGatewayConfig, type GatewayConfig } from '../app/config.ts';
import type { Gateway } from '../app/gateway.ts';
import { builtinAdapters } from '../app/adapters.ts';
import { checkConfigFiles } from '../config/files.ts';
import { ConfigError } from '../config/load.ts';
import type { Logger } from '../log/logger.ts';

// `systemctl reload fieldgate` (ExecReload sends SIGHUP) or `kill -HUP`: re-read the config file,
// apply what can change without dropping clients, and log one line saying what was applied and
// what needs a restart. A config that does not validate changes nothing.

export function reloadOnSighup(gateway: Gateway, file: string | undefined, log: Logger): void {
  let running = false;
  process.on('SIGHUP', () => {
    if (running) return;
    running = true;
    try {
      reloadOnce(gateway, file, log);
    } finally {
      running = false;
    }
  });
}

export function reloadOnce(gateway: Gateway, file: string | undefined, log: Logger): void {
  if (!file) {
    log.warn('SIGHUP: no config file (running on the embedded defaults): nothing to reload');
    return;
  }
  let next: GatewayConfig;
  try {
    next = loadGatewayConfig(builtinAdapters, file);
  } catch (err) {
    const detail = err instanceof ConfigError ? err.problems.map((p) => `${p.path || '(top level)'}: ${p.message}`).join('; ') : (err as Error).message;
    log.error({ config: file }, `SIGHUP: ${file} is invalid, nothing changed (still running with the previous config): ${detail}`);
    return;
  }
  const bad = checkConfigFiles(next).filter((f) => f.status === 'error');
  if (bad.length) {
    log.error({ config: file }, `SIGHUP: files in ${file} cannot be used, nothing changed: ${bad.map((f) => `${f.path} ${f.file}: ${f.message}`).join('; ')}`);
    return;
  }
  const r = gateway.reload(next);
  const applied = r.applied.length ? `applied ${r.applied.join(', ')}` : 'nothing to apply';
  const restart = r.restart.length ? `; needs a restart to take effect: ${r.restart.join(', ')}` : '';
  (r.restart.length ? log.warn.bind(log) : log.info.bind(log))({ config: file, applied: r.applied, restart: r.restart }, `SIGHUP: reloaded ${file}: ${applied}${restart}`);
}

/** Never die without a line: an uncaught error or rejection is logged at fatal before exit 1. */
export function logFatalErrors(log: Logger): void {
  const die = (kind: string) => (err: unknown) => {
    log.fatal({ err: err instanceof Error ? err.stack ?? err.message : String(err) }, `fieldgate stops on an ${kind}: ${err instanceof Error ? err.message : String(err)} (a bug: please report it with this line)`);
    process.exit(1);
  };
  process.on('uncaughtException', die('uncaught exception'));
  process.on('unhandledRejection', die('unhandled promise rejection'));
}
