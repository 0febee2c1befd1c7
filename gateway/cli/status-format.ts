// `fieldgate status`: the status page's summary as text.

export interface Summary {
  node: string;
  version: string;
  uptime_s: number;
  adapters: { name: string; state: string; restarts: number; last_error: string | null; devices_online: number }[];
  components?: { name: string; state: string; restarts: number; last_error: string | null }[];
  bridge: { name: string; connected: boolean; server: string | null; last_error: string | null; queue: { messages: number; bytes: number; oldest_age_ms: number }; forwarded: number }[];
  clients: { connected: number; total: number };
  devices: { total: number; online: number };
  messages: { received: number; dropped: number };
}

export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

function bytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 1024 ** 2 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`;
}

export function formatSummary(s: Summary): string {
  const lines = [`fieldgate ${s.version} on ${s.node}, up ${duration(s.uptime_s)}`];
  lines.push(`clients: ${s.clients.connected} MQTT connected; devices: ${s.devices.online} online of ${s.devices.total} seen; messages received ${s.messages.received}, dropped ${s.messages.dropped}`);
  lines.push(s.adapters.length ? 'adapters:' : 'adapters: none enabled');
  for (const a of s.adapters) lines.push(`  ${a.name.padEnd(8)} ${a.state.padEnd(9)} ${a.devices_online} online, ${a.restarts} restarts${a.last_error ? `, last error: ${a.last_error}` : ''}`);
  if (s.components?.length) lines.push('components:');
  for (const c of s.components ?? []) lines.push(`  ${c.name.padEnd(8)} ${c.state.padEnd(9)} ${c.restarts} restarts${c.last_error ? `, last error: ${c.last_error}` : ''}`);
  lines.push(s.bridge.length ? 'bridge:' : 'bridge: no upstreams');
  for (const b of s.bridge) {
    const state = b.connected ? `connected to ${b.server ?? '?'}` : `DISCONNECTED${b.last_error ? ` (${b.last_error})` : ''}`;
    lines.push(`  ${b.name.padEnd(8)} ${state}; queue ${b.queue.messages} messages (${bytes(b.queue.bytes)}), oldest ${duration(Math.round(b.queue.oldest_age_ms / 1000))}; forwarded ${b.forwarded}`);
  }
  return `${lines.join('\n')}\n`;
}
