import { createSocket } from 'node:dgram';
import { createServer, isIPv6 } from 'node:net';
import { portHeldBy } from './service.ts';
import type { Check, DoctorContext, Finding } from './types.ts';

export interface PortWanted {
  /** What listens there, as the config names it: broker.listeners.tcp, adapters.coap, ... */
  where: string;
  transport: 'tcp' | 'udp';
  host: string;
  port: number;
}

/** Binds and releases host:port the way the gateway will, and returns the error code if that fails. */
export function tryBind(p: Pick<PortWanted, 'transport' | 'host' | 'port'>): Promise<string | undefined> {
  return new Promise((resolve) => {
    if (p.transport === 'tcp') {
      const srv = createServer();
      srv.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      srv.listen({ host: p.host, port: p.port, exclusive: true }, () => srv.close(() => resolve(undefined)));
    } else {
      const sock = createSocket(isIPv6(p.host) ? 'udp6' : 'udp4');
      sock.once('error', (err: NodeJS.ErrnoException) => {
        sock.close();
        resolve(err.code ?? err.message);
      });
      sock.bind({ address: p.host, port: p.port, exclusive: true }, () => sock.close(() => resolve(undefined)));
    }
  });
}

// Adapters declare no listener list of their own, so doctor reads their config sections: every
// object with a numeric `port` (and optional `host`/`bind`) in an enabled adapter. Datagram
// protocols are recognised by name; everything else is checked as TCP.
const UDP_ADAPTER = /coap|lwm2m|udp|forwarder|semtech/i;

function adapterPorts(adapters: Record<string, unknown>): PortWanted[] {
  const out: PortWanted[] = [];
  for (const [name, section] of Object.entries(adapters)) {
    if (!section || typeof section !== 'object' || (section as { enabled?: boolean }).enabled !== true) continue;
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object' || Array.isArray(node)) return;
      const o = node as Record<string, unknown>;
      if (typeof o.port === 'number' && o.port > 0 && o.enabled !== false) {
        const host = typeof o.host === 'string' ? o.host : typeof o.bind === 'string' ? o.bind : '0.0.0.0';
        out.push({ where: path, transport: UDP_ADAPTER.test(name) || o.transport === 'udp' ? 'udp' : 'tcp', host, port: o.port });
      }
      for (const [k, v] of Object.entries(o)) walk(v, `${path}.${k}`);
    };
    walk(section, `adapters.${name}`);
  }
  return out;
}

type Listen = { enabled: boolean; host: string; port: number };

export function wantedPorts(config: { broker: { listeners: Record<string, Listen> }; http?: Listen; adapters: unknown }): PortWanted[] {
  const out: PortWanted[] = [];
  for (const [name, l] of Object.entries(config.broker.listeners)) {
    if (l.enabled && l.port > 0) out.push({ where: `broker.listeners.${name}`, transport: 'tcp', host: l.host, port: l.port });
  }
  const h = config.http;
  if (h?.enabled && h.port > 0) out.push({ where: 'http', transport: 'tcp', host: h.host, port: h.port });
  return out.concat(adapterPorts((config.adapters ?? {}) as Record<string, unknown>));
}

function explain(p: PortWanted, code: string): Finding {
  const at = `${p.transport.toUpperCase()} ${p.host}:${p.port} (${p.where})`;
  switch (code) {
    case 'EADDRINUSE':
      return {
        check: 'ports', status: 'fail', message: `${at} is already in use`,
        fix: `find the holder with "${ssCommand(p)}" and stop it (if it is fieldgate itself: systemctl stop fieldgate), or change ${p.where}.port`,
      };
    case 'EACCES':
      return { check: 'ports', status: 'fail', message: `${at}: permission denied (ports below 1024 need privileges)`, fix: `use a port of 1024 or above in ${p.where}.port, or add AmbientCapabilities=CAP_NET_BIND_SERVICE to the unit` };
    case 'EADDRNOTAVAIL':
      return { check: 'ports', status: 'fail', message: `${at}: ${p.host} is not an address of this machine`, fix: `set ${p.where}.host to 0.0.0.0 or one of this machine's addresses (ip -brief addr)` };
    default:
      return { check: 'ports', status: 'fail', message: `${at}: cannot listen (${code})`, fix: `check ${p.where}.host and .port` };
  }
}

/** The `ss` line that lists the listener on this port with its process (UDP sockets need -l too). */
export function ssCommand(p: Pick<PortWanted, 'transport' | 'port'>): string {
  return `ss -l${p.transport === 'tcp' ? 't' : 'u'}np 'sport = :${p.port}'`;
}

/**
 * A port in use while fieldgate runs (the service, or a `fieldgate start` holding this config's
 * data directory): fine when that process holds the socket, a conflict when another process does.
 * Undefined when no fieldgate runs.
 */
function heldByService(p: PortWanted, ctx: DoctorContext): Finding | undefined {
  const pid = ctx.running?.pid;
  if (!pid) return undefined;
  const at = `${p.transport.toUpperCase()} ${p.host}:${p.port} (${p.where})`;
  const held = portHeldBy(pid, p.transport, p.port);
  if (held === true) return { check: 'ports', status: 'ok', message: `${at} is held by the running fieldgate (PID ${pid}) (ok)` };
  if (held === undefined) {
    return {
      check: 'ports', status: 'warn',
      message: `${at} is in use while fieldgate runs (PID ${pid}), probably by it; this user may not read /proc/${pid}/fd to be sure`,
      fix: `sudo fieldgate doctor --config ${ctx.file ?? '/etc/fieldgate/fieldgate.yaml'} can tell, or: sudo ${ssCommand(p)}`,
    };
  }
  return undefined; // another process: the plain "in use" failure
}

export const ports: Check = async (ctx) => {
  if (!ctx.config) return [];
  const wanted = wantedPorts(ctx.config as unknown as Parameters<typeof wantedPorts>[0]);
  if (wanted.length === 0) return [{ check: 'ports', status: 'ok', message: 'no fixed ports configured' }];
  const results = await Promise.all(wanted.map(async (p) => ({ p, code: await tryBind(p) })));
  return results.map(({ p, code }) => {
    if (!code) return { check: 'ports', status: 'ok' as const, message: `${p.transport.toUpperCase()} ${p.host}:${p.port} is free (${p.where})` };
    return (code === 'EADDRINUSE' ? heldByService(p, ctx) : undefined) ?? explain(p, code);
  });
};
