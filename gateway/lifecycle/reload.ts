import type { LevelWithSilent } from 'pino';
import type { GatewayConfig } from '../app/config.ts';
import type { AuthService } from '../auth/service.ts';
import type { Bridge } from '../bridge/bridge.ts';
import { setLevels, type Logger } from '../log/logger.ts';

// SIGHUP: apply what can change without dropping anyone, and say what needs a restart.
//  - auth (users, allow_anonymous, ACL): the next CONNECT, PUBLISH and SUBSCRIBE use it;
//    connected clients stay, and subscriptions they already hold are not re-checked;
//  - log levels (log.level, log.clients, log.adapters.*): every logger, at once;
//  - the bridge's forward rules, per upstream whose other settings are unchanged;
//  - everything else (listeners, adapters, data_dir, upstream servers and TLS, log.format, ...)
//    needs a restart, and the log line names each changed section.

export interface ReloadTarget {
  auth: AuthService;
  bridge: Bridge;
  log: Logger;
}

export interface ReloadResult {
  applied: string[];
  restart: string[];
  /** The config now in effect: the old one with the applied parts of the new one. */
  effective: GatewayConfig;
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** Keys (one level below `prefix`) where two config objects differ. */
function changedKeys(prefix: string, a: Record<string, unknown>, b: Record<string, unknown>, skip: string[] = []): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !skip.includes(k) && !same(a[k], b[k])).map((k) => `${prefix}.${k}`);
}

/** The level a child logger gets from `log`: its adapter's, the clients' line level, or undefined (the root's). */
export function levelFor(log: GatewayConfig['log']): (bindings: Record<string, unknown>) => LevelWithSilent | undefined {
  const adapters = log.adapters as Record<string, LevelWithSilent | undefined>;
  return (b) => {
    if (typeof b.adapter === 'string' && adapters[b.adapter]) return adapters[b.adapter];
    if (b.component === 'clients' && log.clients) return log.clients;
    return undefined;
  };
}

export function applyReload(target: ReloadTarget, old: GatewayConfig, next: GatewayConfig): ReloadResult {
  const applied: string[] = [];
  const restart: string[] = [];
  const effective: GatewayConfig = { ...old };

  if (!same(old.auth, next.auth)) {
    target.auth.replace(next.auth);
    effective.auth = next.auth;
    applied.push(...changedKeys('auth', old.auth, next.auth));
  }

  const levels = { ...old.log, level: next.log.level, clients: next.log.clients, adapters: next.log.adapters };
  if (!same(levels, old.log)) {
    setLevels(target.log, next.log.level, levelFor(levels));
    effective.log = levels;
    applied.push(...changedKeys('log', old.log, levels));
  }
  if (next.log.format !== old.log.format) restart.push('log.format');

  if (!same(old.bridge, next.bridge)) {
    const notApplied = target.bridge.reloadForwardRules(next.bridge);
    restart.push(...notApplied);
    if (notApplied.length === 0) {
      effective.bridge = next.bridge;
      applied.push('bridge forward rules');
    } else if (!same(old.bridge.upstreams.map((u) => u.forward), next.bridge.upstreams.map((u) => u.forward))) {
      applied.push('bridge forward rules of unchanged upstreams');
    }
  }

  const oldRest = old as unknown as Record<string, Record<string, unknown>>;
  const nextRest = next as unknown as Record<string, Record<string, unknown>>;
  for (const section of Object.keys({ ...oldRest, ...nextRest })) {
    if (['auth', 'log', 'bridge'].includes(section)) continue;
    const a = oldRest[section] ?? {};
    const b = nextRest[section] ?? {};
    if (same(a, b)) continue;
    restart.push(...(typeof a === 'object' && typeof b === 'object' ? changedKeys(section, a, b) : [section]));
  }
  return { applied, restart, effective };
}
