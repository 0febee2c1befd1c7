import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { GatewayConfig } from '../app/config.ts';
import { ApiKeyStore, CLI_TOKEN_FILE } from '../http/apikeys.ts';
import { formatSummary, type Summary } from './status-format.ts';

// `fieldgate apikey | trace | status`: apikey edits the key file in the data directory; trace and
// status talk to the running gateway over its HTTP API on this machine.

export const OPS_HELP: Record<string, string> = {
  apikey: `Usage: fieldgate apikey create NAME | list | delete NAME [--config FILE]

Manages the HTTP API's keys in <data_dir>/api_keys.json (secrets stored hashed). "create"
prints the key and its secret once: use them as HTTP Basic user and password.
  curl -u KEY:SECRET http://gateway:18083/api/v5/clients`,
  trace: `Usage: fieldgate trace start (--clientid ID | --topic FILTER) [--duration 10m] [--name NAME] [--payload text|hex|hidden]
       fieldgate trace list | stop NAME | log NAME | delete NAME       [--config FILE] [--url URL]

Records every MQTT packet of one client (both directions, decoded) or every message on a
topic filter, with timestamps, to <data_dir>/trace/NAME.log (bounded by http.trace.max_file_size),
through the running gateway's HTTP API. "log" prints what a trace has written so far.`,
  status: `Usage: fieldgate status [--config FILE] [--url URL] [--json]

Prints what the status page shows: gateway id, version, uptime, adapters, clients and devices,
the bridge per upstream. Asks the running gateway over its HTTP API (http.port, 18083).`,
};

export const OPS_COMMANDS = new Set(Object.keys(OPS_HELP));

interface Ctx {
  config: GatewayConfig;
  url: string;
  out: NodeJS.WritableStream;
}

/** The running gateway's API on this machine, and how to authenticate to it. */
export function apiBase(config: GatewayConfig, explicit: string | undefined): string {
  if (explicit) return explicit.replace(/\/$/, '');
  if (process.env.FIELDGATE_URL) return process.env.FIELDGATE_URL.replace(/\/$/, '');
  const h = config.http.host;
  const host = h === '0.0.0.0' || h === '::' ? '127.0.0.1' : h.includes(':') ? `[${h}]` : h;
  return `${config.http.tls.enabled ? 'https' : 'http'}://${host}:${config.http.port}`;
}

function authHeader(config: GatewayConfig): string | undefined {
  const key = process.env.FIELDGATE_API_KEY;
  if (key) return `Basic ${Buffer.from(key).toString('base64')}`;
  try {
    return `Bearer ${readFileSync(join(config.gateway.data_dir, CLI_TOKEN_FILE), 'utf8').trim()}`;
  } catch {
    return undefined;
  }
}

export class CliError extends Error {}

export async function call(ctx: Ctx, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  const auth = authHeader(ctx.config);
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let res: Response;
  try {
    res = await fetch(`${ctx.url}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code;
    throw new CliError(`cannot reach the gateway's HTTP API at ${ctx.url} (${cause ?? (err as Error).message}): is fieldgate running with http.enabled, and is --config the file it runs with?`);
  }
  const text = await res.text();
  const json = text && res.headers.get('content-type')?.includes('json') ? (JSON.parse(text) as unknown) : text;
  if (res.status === 401) throw new CliError(`the gateway refused the request (401): run this as a user who can read ${join(ctx.config.gateway.data_dir, CLI_TOKEN_FILE)}, or set FIELDGATE_API_KEY=key:secret`);
  if (res.status >= 400) throw new CliError(`${method} ${path}: ${res.status} ${(json as { message?: string }).message ?? text}`);
  return json;
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

function apikey(config: GatewayConfig, args: string[], out: NodeJS.WritableStream): void {
  const [sub, name] = args;
  const store = new ApiKeyStore(config.gateway.data_dir);
  if (sub === 'create' && name) {
    const k = store.create(name);
    out.write(`created API key "${k.name}" (the secret is shown only now)\nkey:    ${k.key}\nsecret: ${k.secret}\n\ncurl -u ${k.key}:${k.secret} http://<gateway>:${config.http.port}/api/v5/clients\n`);
    return;
  }
  if (sub === 'list') {
    const keys = store.list();
    out.write(keys.length ? table([['NAME', 'KEY', 'CREATED'], ...keys.map((k) => [k.name, k.key, k.created_at])]) : `no API keys (${store.file})\n`);
    return;
  }
  if (sub === 'delete' && name) {
    if (!store.delete(name)) throw new CliError(`no API key named "${name}"`);
    out.write(`deleted API key "${name}"\n`);
    return;
  }
  throw new CliError(`usage: ${OPS_HELP.apikey!.split('\n')[0]!.replace('Usage: ', '')}`);
}

interface TraceRow {
  name: string;
  type: string;
  clientid?: string;
  topic?: string;
  status: string;
  end_at: string;
  file: string;
  log_size: Record<string, number>;
}

async function trace(ctx: Ctx, args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { clientid: { type: 'string' }, topic: { type: 'string' }, duration: { type: 'string', default: '10m' }, name: { type: 'string' }, payload: { type: 'string', default: 'text' } } });
  const [sub, name] = positionals;
  if (sub === 'start') {
    if (!values.clientid === !values.topic) throw new CliError('trace start needs exactly one of --clientid ID or --topic FILTER');
    const type = values.clientid ? 'clientid' : 'topic';
    const target = (values.clientid ?? values.topic)!;
    const traceName = values.name ?? `${type}-${target.replace(/[^A-Za-z0-9_-]/g, '_')}-${Date.now().toString(36)}`.replace(/^[^A-Za-z]/, 't');
    const t = (await call(ctx, 'POST', '/api/v5/trace', { name: traceName, type, [type]: target, duration: values.duration, payload_encode: values.payload })) as TraceRow;
    ctx.out.write(`trace ${t.name} started: ${type} ${target} until ${t.end_at}\nwriting to ${t.file}\nstop it with: fieldgate trace stop ${t.name}\n`);
    return;
  }
  if (sub === 'list') {
    const list = (await call(ctx, 'GET', '/api/v5/trace')) as TraceRow[];
    ctx.out.write(list.length ? table([['NAME', 'TYPE', 'TARGET', 'STATUS', 'BYTES', 'ENDS', 'FILE'], ...list.map((t) => [t.name, t.type, (t.clientid ?? t.topic)!, t.status, String(Object.values(t.log_size)[0] ?? 0), t.end_at, t.file])]) : 'no traces\n');
    return;
  }
  if (sub === 'stop' && name) {
    await call(ctx, 'PUT', `/api/v5/trace/${encodeURIComponent(name)}/stop`);
    ctx.out.write(`trace ${name} stopped (its file is kept; "fieldgate trace delete ${name}" removes it)\n`);
    return;
  }
  if (sub === 'delete' && name) {
    await call(ctx, 'DELETE', `/api/v5/trace/${encodeURIComponent(name)}`);
    ctx.out.write(`trace ${name} deleted\n`);
    return;
  }
  if (sub === 'log' && name) {
    let position = 0;
    for (;;) {
      const r = (await call(ctx, 'GET', `/api/v5/trace/${encodeURIComponent(name)}/log?position=${position}&bytes=65536`)) as { meta: { position: number; bytes: number }; items: string };
      ctx.out.write(r.items);
      if (r.meta.bytes === 0) return;
      position = r.meta.position;
    }
  }
  throw new CliError('usage: fieldgate trace start (--clientid ID | --topic FILTER) [--duration 10m] | list | stop NAME | log NAME | delete NAME');
}

export async function runOps(command: string, args: string[], config: GatewayConfig, opts: { url?: string; json?: boolean }, out: NodeJS.WritableStream = process.stdout): Promise<void> {
  if (command === 'apikey') return apikey(config, args, out);
  const ctx: Ctx = { config, url: apiBase(config, opts.url), out };
  if (command === 'trace') return trace(ctx, args);
  if (command === 'status') {
    const s = (await call(ctx, 'GET', '/api/v5/summary')) as Summary;
    out.write(opts.json ? `${JSON.stringify(s, null, 2)}\n` : formatSummary(s));
  }
}

/** Entry from main.ts: takes --config, --url, --json and --help out, then runs the command. */
export async function opsCli(command: string, argv: string[], load: (file: string | undefined) => GatewayConfig): Promise<void> {
  const rest: string[] = [];
  const opts: { config?: string; url?: string; json?: boolean } = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') {
      process.stdout.write(`${OPS_HELP[command]}\n`);
      return;
    }
    if (a === '--json') opts.json = true;
    else if ((a === '--config' || a === '-c' || a === '--url') && argv[i + 1] !== undefined) opts[a === '--url' ? 'url' : 'config'] = argv[++i];
    else if (a.startsWith('--config=')) opts.config = a.slice(9);
    else if (a.startsWith('--url=')) opts.url = a.slice(6);
    else rest.push(a);
  }
  try {
    await runOps(command, rest, load(opts.config), opts);
  } catch (err) {
    if (!(err instanceof CliError) && !(err instanceof Error && err.name === 'TypeError' && /parseArgs|Unknown option|Unexpected argument/i.test(err.message))) throw err;
    process.stderr.write(`fieldgate ${command}: ${err.message}\n`);
    process.exit(1);
  }
}
