import { resolve } from 'node:path';
import type { GatewayConfig } from '../app/config.ts';
import { lockHolder } from '../lifecycle/data-lock.ts';
import { readRegistryFile, type DeviceRecord } from '../registry/registry.ts';
import { apiBase, call, CliError } from './ops.ts';

// `fieldgate devices`: the registry of a running gateway, asked over its HTTP API on this machine
// (live last-seen times), else the registry files in its data directory, whose last-seen times are
// those of the last snapshot (hourly; connects and disconnects are journaled at once).

export const DEVICES_HELP = `Usage: fieldgate devices [--config FILE] [--json]

Lists every device any adapter has seen (protocol, id, address, online, first/last seen).
When a gateway runs on the config's gateway.data_dir, it asks that gateway over its HTTP API
(http.port on this machine; FIELDGATE_URL overrides): last seen is live. Otherwise, or when
the API does not answer, it reads the registry files in gateway.data_dir, where last seen is as
of the last snapshot (hourly). Which one it used is printed on standard error.`;

interface ApiDevice {
  protocol: string;
  id: string;
  transport: string | null;
  address: string | null;
  via: string | null;
  username: string | null;
  online: boolean;
  first_seen: string | null;
  last_seen: string | null;
}

/** Every device of the running gateway, page by page, in the registry's own record shape. */
async function liveDevices(config: GatewayConfig, url: string): Promise<DeviceRecord[]> {
  const out: DeviceRecord[] = [];
  for (let page = 1; ; page++) {
    const res = (await call({ config, url, out: process.stdout }, 'GET', `/api/v5/devices?limit=10000&page=${page}`)) as { data: ApiDevice[]; meta: { hasnext: boolean } };
    for (const d of res.data) {
      out.push({
        protocol: d.protocol,
        id: d.id,
        online: d.online,
        first_seen: d.first_seen ? Date.parse(d.first_seen) : 0,
        last_seen: d.last_seen ? Date.parse(d.last_seen) : 0,
        ...(d.transport !== null && { transport: d.transport }),
        ...(d.address !== null && { address: d.address }),
        ...(d.via !== null && { via: d.via }),
        ...(d.username !== null && { username: d.username }),
      } as DeviceRecord);
    }
    if (!res.meta.hasnext) return out;
  }
}

/** The devices, and where they came from (one line for standard error). */
export async function loadDevices(config: GatewayConfig): Promise<{ devices: DeviceRecord[]; source: string }> {
  const dir = resolve(config.gateway.data_dir);
  const files = (why: string) => ({ devices: readRegistryFile(dir), source: `from the registry files in ${dir} (${why}; last seen as of the last snapshot)` });
  // The data directory's lock says whether a gateway runs on it: no port is probed otherwise.
  const holder = await lockHolder(dir);
  if (!holder) return files('no gateway is running on this data directory');
  if (!config.http.enabled) return files(`the gateway running on it (PID ${holder.pid}) has http.enabled false`);
  const url = apiBase(config, undefined);
  try {
    return { devices: await liveDevices(config, url), source: `from the running gateway (PID ${holder.pid}) at ${url}` };
  } catch (err) {
    if (err instanceof CliError) return files(`the running gateway's HTTP API did not answer: ${err.message}`);
    throw err;
  }
}

/** A LoRa node's address is its modem (it has no network address of its own): "via lora0", not "lora0 via lora0". */
function addressColumn(d: { address?: string; via?: string }): string {
  if (d.via === undefined) return d.address ?? '-';
  return d.address === undefined || d.address === d.via ? `via ${d.via}` : `${d.address} via ${d.via}`;
}

export async function printDevices(config: GatewayConfig, json: boolean): Promise<void> {
  const { devices, source } = await loadDevices(config);
  process.stderr.write(`devices ${source}\n`);
  if (json) {
    process.stdout.write(`${JSON.stringify(devices, null, 2)}\n`);
    return;
  }
  if (devices.length === 0) {
    process.stdout.write(`no devices seen yet (registry in ${config.gateway.data_dir})\n`);
    return;
  }
  const rows = [['PROTOCOL', 'ID', 'ADDRESS', 'ONLINE', 'FIRST SEEN', 'LAST SEEN']];
  for (const d of devices) rows.push([d.protocol, d.id, addressColumn(d), d.online ? 'yes' : 'no', new Date(d.first_seen).toISOString(), new Date(d.last_seen).toISOString()]);
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}
