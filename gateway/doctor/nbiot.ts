import { readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Check, DoctorContext, Finding } from './types.ts';

// `fieldgate doctor` for NB-IoT modems (adapters.modem, type bc95 | bg96): what the running gateway
// last read from each module (registration, address, operator, signal), from the snapshot the
// modem adapter keeps in <data_dir>/nbiot-<name>.json after every health read (docs/modem.md).

interface Health {
  ready?: boolean;
  registration?: number;
  registered?: boolean;
  address?: string | null;
  operator?: string | null;
  csq?: number;
  rssi_dbm?: number | null;
  port?: number;
  protocol?: string;
  ts?: number;
  health_interval?: number;
}

const STAT: Record<number, string> = { 0: 'not searching', 1: 'registered (home)', 2: 'searching', 3: 'registration denied', 4: 'unknown', 5: 'registered (roaming)' };

/** The NB-IoT modems of an enabled modem adapter section. */
function nbiotModems(adapters: unknown): string[] {
  const modem = (adapters as { modem?: { enabled?: boolean; modems?: { name?: unknown; type?: unknown }[] } } | undefined)?.modem;
  if (!modem?.enabled) return [];
  return (modem.modems ?? []).filter((m) => m.type === 'bc95' || m.type === 'bg96').map((m) => String(m.name));
}

export function nbiotFinding(name: string, h: Health | undefined, ageMs: number | undefined): Finding {
  const check = `nbiot ${name}`;
  if (!h || ageMs === undefined) return { check, status: 'warn', message: `no health snapshot from modem ${name} yet (the module has not been read since the gateway started)`, fix: 'wait for the module to come up; see the gateway log lines of modem ' + name };
  const interval = h.health_interval ?? 60_000;
  const ago = `${Math.round(ageMs / 1000)} s ago`;
  const signal = h.csq !== undefined && h.csq !== 99 ? `signal csq ${h.csq} (${h.rssi_dbm} dBm)` : 'no signal reading';
  const what = `${STAT[h.registration ?? 4] ?? 'unknown'}, address ${h.address ?? 'none'}, operator ${h.operator ?? 'unknown'}, ${signal}, UDP port ${h.port} for ${h.protocol}; read ${ago}`;
  if (ageMs > 3 * interval) return { check, status: 'warn', message: `stale: ${what}`, fix: `the gateway has not read the module for ${ago} (health_interval ${interval / 1000} s): see its log lines for modem ${name}` };
  if (!h.registered) return { check, status: 'warn', message: what, fix: 'not on the network: coverage, antenna, SIM, band or APN (docs/modem.md, NB-IoT log lines)' };
  if (!h.ready) return { check, status: 'warn', message: `socket not open: ${what}`, fix: `see the gateway log lines for modem ${name}` };
  return { check, status: 'ok', message: what };
}

export const nbiot: Check = async (ctx: DoctorContext) => {
  const names = nbiotModems(ctx.config?.adapters);
  if (names.length === 0 || !ctx.config) return [];
  if (!ctx.running) return names.map((n) => ({ check: `nbiot ${n}`, status: 'ok', message: 'no fieldgate running on this data directory: the module state is shown once it runs' }));
  const dir = resolve(ctx.config.gateway.data_dir);
  return names.map((n) => {
    const file = join(dir, `nbiot-${n}.json`);
    try {
      const h = JSON.parse(readFileSync(file, 'utf8')) as Health;
      return nbiotFinding(n, h, Date.now() - (h.ts ?? statSync(file).mtimeMs));
    } catch {
      return nbiotFinding(n, undefined, undefined);
    }
  });
};
