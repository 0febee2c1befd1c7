import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { builtinAdapters } from '../app/adapters.ts';
import { loadGatewayConfig, type GatewayConfig } from '../app/config.ts';
import { Gateway } from '../app/gateway.ts';
import { VERSION } from '../app/version.ts';
import { hashPassword } from '../auth/password.ts';
import { checkConfigFiles, type FileFinding } from '../config/files.ts';
import { ConfigError } from '../config/load.ts';
import { flushCompileCache } from '../lifecycle/compile-cache.ts';
import { DataDirInUse, DataDirLock } from '../lifecycle/data-lock.ts';
import { createNotifier } from '../lifecycle/sd-notify.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { DEVICES_HELP, printDevices } from './devices.ts';
import { logFatalErrors, reloadOnSighup } from './reload-signal.ts';
import { OPS_COMMANDS, opsCli } from './ops.ts';

const HELP: Record<string, string> = {
  main: `fieldgate ${VERSION}: multi-protocol IoT gateway

Usage: fieldgate <command> [options]

Commands:
  start     run the gateway (default config if no file is given)
  check     validate a config file without starting
  passwd    print a password hash for auth.users
  devices   list the devices the gateway has seen
  doctor    check this machine can run the gateway, one line per check with a fix
  ble       decode BLE advertisements (JSON lines on stdin) or scan the radio: fieldgate ble --help
  status    print the running gateway's summary (adapters, clients, bridge) from its HTTP API
  apikey    create, list or delete HTTP API keys
  trace     trace a client's packets or a topic's messages to a file (start, list, stop, log)
  version   print the version

Run "fieldgate <command> --help" for a command's options.`,
  start: `Usage: fieldgate start [--config FILE]

Runs the gateway. The config file is, in order: --config FILE, $FIELDGATE_CONFIG,
./fieldgate.yaml if it exists, else the embedded defaults (MQTT on 0.0.0.0:1883,
data in ./data). SIGTERM or Ctrl-C stops it cleanly.`,
  check: `Usage: fieldgate check [--config FILE]

Validates FILE (same lookup as start) and prints every problem with its path and a
hint. Exit code 0 when valid, 1 when not.`,
  passwd: `Usage: fieldgate passwd [--username NAME]

Reads a password (on a terminal: typed twice, not echoed; else the first line of
standard input) and prints a salted scrypt hash to paste into auth.users[].password_hash.

  echo -n 's3cret' | fieldgate passwd --username sensor1`,
  devices: DEVICES_HELP,
  doctor: `Usage: fieldgate doctor [--config FILE] [--device PATH]... [--json]

Checks, one line each with a fix: the config is valid; the listeners' ports are free; the
data directory is writable and has room for the bridge log; serial devices (any /dev/...
path in the adapters' config, plus each --device) exist and this user can open them; the
clock is synchronized; each bridge upstream is reachable with its TLS certificate verified;
the Node.js version; with adapters.ble enabled, the Bluetooth radio, the HCI addon and the
CAP_NET_RAW/CAP_NET_ADMIN grant; when the fieldgate service is installed, that its sandbox
(ReadWritePaths, DeviceAllow) covers the data directory and serial devices. A port or
serial device held by the running fieldgate service is reported as ok.
Run it as the service user to check that user's permissions:
  sudo -u fieldgate fieldgate doctor --config /etc/fieldgate/fieldgate.yaml
Exit code 1 when a check failed (something that stops the gateway or a configured device
from working), 0 when everything passed or only warned.`,
  version: 'Usage: fieldgate version',
};

function configPath(explicit: string | undefined): string | undefined {
  if (explicit) return explicit;
  if (process.env.FIELDGATE_CONFIG) return process.env.FIELDGATE_CONFIG;
  return existsSync('fieldgate.yaml') ? 'fieldgate.yaml' : undefined;
}

/** Loads the config or exits 1 listing every problem; `command` decides the closing line. */
function loadOrExit(file: string | undefined, command: 'start' | 'check' | 'other' = 'other'): GatewayConfig {
  try {
    return loadGatewayConfig(builtinAdapters, file);
  } catch (err) {
    if (err instanceof ConfigError) {
      const tail = command === 'start' ? `refusing to start; fix the file and run "fieldgate check --config ${err.source}"` : `fix the file and run "fieldgate check --config ${err.source}" again`;
      process.stderr.write(`fieldgate: ${err.message}\nfieldgate: ${command === 'check' ? `${err.problems.length} problem${err.problems.length === 1 ? '' : 's'}; fix the file and run this again` : tail}\n`);
      process.exit(1);
    }
    throw err;
  }
}

function fileLine(f: FileFinding): string {
  return `  - ${f.path} ${f.file}: ${f.message}${f.hint ? ` (hint: ${f.hint})` : ''}`;
}

/** The files the config names (certificates, keys, CAs): problems are printed; errors exit 1. */
function filesOrExit(config: GatewayConfig, file: string | undefined, command: 'start' | 'check'): FileFinding[] {
  const findings = checkConfigFiles(config);
  const errors = findings.filter((f) => f.status === 'error');
  if (errors.length) {
    const closing = command === 'start' ? `refusing to start; fix them and run "fieldgate check --config ${file ?? '...'}"` : 'fix them and run this again';
    process.stderr.write(`fieldgate: files named in ${file ?? '(embedded defaults)'} cannot be used:\n${errors.map(fileLine).join('\n')}\nfieldgate: ${closing}\n`);
    process.exit(1);
  }
  return findings.filter((f) => f.status === 'warn');
}

let heldLocks: DataDirLock[] = [];

/** The data directory (and a bridge log directory outside it), locked for this process or exit 1. */
async function lockDataDirs(config: GatewayConfig, file: string | undefined, log: Logger): Promise<DataDirLock[]> {
  const dirs = [resolve(config.gateway.data_dir)];
  const queueDir = config.bridge.queue.dir ? resolve(config.bridge.queue.dir) : undefined;
  if (queueDir && !queueDir.startsWith(`${dirs[0]}/`)) dirs.push(queueDir);
  const locks: DataDirLock[] = [];
  try {
    for (const dir of dirs) locks.push(await DataDirLock.acquire(dir, { version: VERSION, config: file ?? '(embedded defaults)', started_at: new Date().toISOString() }));
  } catch (err) {
    log.fatal(`fieldgate cannot start: ${err instanceof DataDirInUse ? err.message : `cannot lock the data directory: ${(err as Error).message}`}`);
    process.exit(1);
  }
  return locks;
}

/** SIGTERM / SIGINT stop the gateway and exit (1 past gateway.shutdown_timeout); returns "stopping yet?". */
function stopOnSignals(gateway: Gateway, config: GatewayConfig, notifier: ReturnType<typeof createNotifier>, log: Logger): () => boolean {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    notifier.close();
    const notified = notifier.stopping(`stopping on ${signal}`);
    const deadline = setTimeout(() => {
      log.error({ timeout_ms: config.gateway.shutdown_timeout }, 'shutdown did not finish before gateway.shutdown_timeout; exiting anyway');
      process.exit(1);
    }, config.gateway.shutdown_timeout);
    deadline.unref();
    // STOPPING=1 tells systemd the exit that follows is deliberate (it matters when the stop did
    // not come from systemctl, e.g. a SIGTERM from a script); let it arrive before we exit, but
    // bound the wait so a hung helper cannot hold the shutdown.
    const sent = Promise.race([notified, new Promise<void>((r) => setTimeout(r, 2000).unref())]);
    gateway.stop().then(
      async () => {
        await sent;
        log.info('stopped');
        process.exit(0);
      },
      async (err: Error) => {
        await sent;
        log.error({ err: err.message }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  return () => stopping;
}

async function start(file: string | undefined): Promise<void> {
  // Until the reload handler is in place (after the config is loaded and the data directory
  // locked), a SIGHUP's default action would end the process without a word: the config being
  // loaded is the file's current content anyway, so there is nothing to reload yet.
  const earlyHup = () => process.stderr.write('fieldgate: SIGHUP while starting: the config is being loaded now, nothing to reload\n');
  process.on('SIGHUP', earlyHup);
  const config = loadOrExit(file, 'start');
  const warnings = filesOrExit(config, file, 'start');
  const log = createLogger({ level: config.log.level, format: config.log.format });
  log.info({ config: file ?? '(embedded defaults)' }, 'loading config');
  for (const w of warnings) log.warn({ option: w.path, file: w.file }, `${w.path}: ${w.message}${w.hint ? ` (${w.hint})` : ''}`);
  // Held until the process exits (the kernel frees them then, whatever the exit).
  heldLocks = await lockDataDirs(config, file, log);
  const gateway = new Gateway({ config, adapters: builtinAdapters, log });
  // systemd Type=notify: a no-op unless NOTIFY_SOCKET is set (see gateway/lifecycle/sd-notify.ts).
  const notifier = createNotifier({ onError: (message) => log.warn(message) });
  const stopping = stopOnSignals(gateway, config, notifier, log);
  // SIGHUP would otherwise end the process without a word; it reloads what it can instead.
  reloadOnSighup(gateway, file, log);
  process.off('SIGHUP', earlyHup);
  logFatalErrors(log);
  try {
    await gateway.start();
  } catch (err) {
    log.fatal(`fieldgate cannot start: ${(err as Error).message}`);
    await gateway.stop().catch(() => {});
    process.exit(1);
  }
  if (stopping()) return;
  const ports = Object.entries(gateway.broker.ports).map(([name, port]) => `${name}:${port}`).join(' ');
  await notifier.ready(`serving MQTT (${ports || 'no listeners'})`);
  notifier.startWatchdog();
  flushCompileCache();
}

/** `fieldgate check`: exits 1 on a problem; warnings are printed. */
function check(file: string | undefined): void {
  const config = loadOrExit(file, 'check');
  const warnings = filesOrExit(config, file, 'check');
  for (const w of warnings) process.stdout.write(`warning:${fileLine(w).slice(3)}\n`);
  process.stdout.write(`config OK: ${file ?? '(embedded defaults)'}\n`);
}

/** `fieldgate passwd`: a hash of the password read (as an auth.users entry with a username). */
async function passwd(username: string | undefined): Promise<void> {
  let pw: string;
  try {
    pw = await (await import('./passwd.ts')).readNewPassword(); // node:readline only for this command
  } catch (err) {
    process.stderr.write(`fieldgate passwd: ${(err as Error).message}\n`);
    process.exit(1);
  }
  if (!pw) {
    process.stderr.write('fieldgate passwd: empty password\n');
    process.exit(1);
  }
  const hash = await hashPassword(pw);
  process.stdout.write(username ? `- username: ${username}\n  password_hash: '${hash}'\n` : `${hash}\n`);
}

export async function main(argv: string[]): Promise<void> {
  const [command = 'help', ...rest] = argv;
  if (command === 'ble') return void (process.exitCode = await (await import('./ble.ts')).bleCommand(rest, (f) => loadOrExit(configPath(f)).adapters as Record<string, unknown>));
  if (OPS_COMMANDS.has(command)) return opsCli(command, rest, (file) => loadOrExit(configPath(file)));
  const { values } = parseArgs({
    args: rest,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      json: { type: 'boolean' },
      username: { type: 'string' },
      device: { type: 'string', multiple: true },
    },
    allowPositionals: false,
  });
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(`${HELP.main}\n`);
    return;
  }
  if (!(command in HELP)) {
    process.stderr.write(`fieldgate: unknown command "${command}"\n\n${HELP.main}\n`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(`${HELP[command]}\n`);
    return;
  }
  switch (command) {
    case 'start':
      return start(configPath(values.config));
    case 'check':
      return check(configPath(values.config));
    case 'passwd':
      return passwd(values.username);
    case 'devices':
      return printDevices(loadOrExit(configPath(values.config)), values.json === true);
    case 'doctor': {
      // Loaded on demand: `start` never pays for the doctor's modules.
      const { runDoctor } = await import('../doctor/run.ts');
      const ok = await runDoctor({ file: configPath(values.config), devices: values.device ?? [], json: values.json === true, out: process.stdout });
      process.exit(ok ? 0 : 1);
    }
    case 'version':
      process.stdout.write(`fieldgate ${VERSION}\n`);
      return;
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  process.stderr.write(`fieldgate: ${err.message}\n`);
  process.exit(1);
});
