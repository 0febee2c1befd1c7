import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { builtinAdapters } from '../app/adapters.ts';
import { loadGatewayConfig, type GatewayConfig } from '../app/config.ts';
import { VERSION } from '../app/version.ts';
import { ConfigError } from '../config/load.ts';
import { lockHolder } from '../lifecycle/data-lock.ts';
import { ble } from './ble.ts';
import { clock } from './clock.ts';
import { dataDir } from './data-dir.ts';
import { files } from './files.ts';
import { nbiot } from './nbiot.ts';
import { nodeVersion } from './node-version.ts';
import { ports } from './ports.ts';
import { sandbox } from './sandbox.ts';
import { serial } from './serial.ts';
import { serviceInfo, type ServiceInfo } from './service.ts';
import type { Check, DoctorContext, Finding } from './types.ts';
import { upstream } from './upstream.ts';

export type { Finding };

// `fieldgate doctor`: every check is a small module returning findings; this file loads the
// config, runs them, and prints one line per finding (with its fix) or JSON.

const CHECKS: Check[] = [ports, dataDir, files, serial, sandbox, clock, upstream, nodeVersion, ble, nbiot];

function configFinding(file: string | undefined): { config?: GatewayConfig; finding: Finding } {
  const name = file ?? '(embedded defaults)';
  try {
    const config = loadGatewayConfig(builtinAdapters, file);
    return { config, finding: { check: 'config', status: 'ok', message: `${name} is valid` } };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    const first = err.problems[0];
    const more = err.problems.length > 1 ? ` (+${err.problems.length - 1} more)` : '';
    return {
      finding: {
        check: 'config', status: 'fail',
        message: `${name} is invalid: ${first ? `${first.path || '(top level)'}: ${first.message}` : err.message}${more}; checks that need the config were skipped`,
        fix: `fieldgate check --config ${err.source} lists every problem with a hint`,
      },
    };
  }
}

/** A warning when root runs doctor on a machine with the service user: permissions would lie. */
function userFinding(): Finding | undefined {
  if (process.getuid?.() !== 0) return undefined;
  if (spawnSync('id', ['-u', 'fieldgate'], { stdio: 'ignore' }).status !== 0) return undefined;
  return { check: 'user', status: 'warn', message: 'running as root: file and device permission checks reflect root, not the fieldgate service user', fix: 'sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml' };
}

/** One line on the installed service, so the port and device lines that follow make sense. */
function serviceFinding(s: ServiceInfo | undefined): Finding | undefined {
  if (!s) return undefined;
  if (s.active) return { check: 'service', status: 'ok', message: `fieldgate.service is running${s.mainPid ? ` (main PID ${s.mainPid})` : ''}: ports and devices it holds are reported as such, not as conflicts` };
  return { check: 'service', status: 'ok', message: `fieldgate.service is installed (${s.source === 'systemctl' ? 'not running' : `${s.unitFile ?? 'unit file'}; systemd not reachable`}); its sandbox is checked below` };
}

/**
 * The fieldgate already running with this config's data directory: the service's main process, or
 * (on a development machine, `npm start`) whoever holds the data-directory lock.
 */
async function runningGateway(service: ServiceInfo | undefined, config: GatewayConfig | undefined): Promise<{ running?: DoctorContext['running']; line?: Finding }> {
  if (service?.active && service.mainPid) return { running: { pid: service.mainPid, what: 'fieldgate.service' } };
  const holder = config ? await lockHolder(resolve(config.gateway.data_dir)) : undefined;
  if (!holder?.pid) return {};
  return {
    running: { pid: holder.pid, what: 'fieldgate start' },
    line: { check: 'running', status: 'ok', message: `a fieldgate (PID ${holder.pid}${holder.config ? `, config ${holder.config}` : ''}) is running on ${config?.gateway.data_dir}: ports and devices it holds are reported as such, not as conflicts` },
  };
}

/**
 * Runs every check. `service` replaces what systemctl (or the installed unit file) says about the
 * fieldgate unit; null means "not installed".
 */
export async function doctor(opts: { file?: string; devices?: string[]; timeoutMs?: number; service?: ServiceInfo | null }): Promise<Finding[]> {
  const { config, finding } = configFinding(opts.file);
  const service = opts.service === undefined ? serviceInfo() : (opts.service ?? undefined);
  const { running, line } = await runningGateway(service, config);
  const ctx: DoctorContext = { file: opts.file, config, devices: opts.devices ?? [], timeoutMs: opts.timeoutMs ?? 5000, service, running };
  const findings: Finding[] = [finding];
  const user = userFinding();
  if (user) findings.push(user);
  const svc = serviceFinding(service);
  if (svc) findings.push(svc);
  if (line) findings.push(line);
  const results = await Promise.all(CHECKS.map((c) => c(ctx).catch((err: Error): Finding[] => [{ check: c.name || 'check', status: 'fail', message: `the check itself crashed: ${err.message}`, fix: 'report this as a fieldgate bug' }])));
  for (const r of results) findings.push(...r);
  return findings;
}

const LABEL: Record<Finding['status'], string> = { ok: 'ok', warn: 'warn', fail: 'FAIL' };

export function formatFindings(findings: Finding[]): string {
  const width = Math.max(...findings.map((f) => f.check.length));
  const lines = findings.map((f) => `${LABEL[f.status].padEnd(4)}  ${f.check.padEnd(width)}  ${f.message}${f.fix && f.status !== 'ok' ? `  -> fix: ${f.fix}` : ''}`);
  const count = (s: Finding['status']) => findings.filter((f) => f.status === s).length;
  lines.push(`doctor: ${count('fail')} failed, ${count('warn')} warning${count('warn') === 1 ? '' : 's'}, ${count('ok')} ok`);
  return `${lines.join('\n')}\n`;
}

/** Runs doctor for the CLI; resolves true when nothing failed. */
export async function runDoctor(opts: { file?: string; devices: string[]; json: boolean; out: NodeJS.WritableStream }): Promise<boolean> {
  const findings = await doctor(opts);
  if (opts.json) opts.out.write(`${JSON.stringify({ version: VERSION, config: opts.file ?? null, findings }, null, 2)}\n`);
  else opts.out.write(`fieldgate doctor ${VERSION}, node ${process.version} ${process.platform}-${process.arch}\n${formatFindings(findings)}`);
  return !findings.some((f) => f.status === 'fail');
}
