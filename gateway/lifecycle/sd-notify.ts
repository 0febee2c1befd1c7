import { spawn } from 'node:child_process';

// sd_notify(3) for a Type=notify systemd service: READY=1 once the listeners are up, STOPPING=1
// when a shutdown begins, WATCHDOG=1 at half of WATCHDOG_USEC.
//
// Why a `systemd-notify` child instead of writing the datagram ourselves: the protocol is one
// datagram to the AF_UNIX socket in $NOTIFY_SOCKET, and Node.js has no unix datagram sockets
// (dgram is UDP only). The alternatives are a native addon (a compiler or another prebuild per
// architecture on the Pi) or a helper process. systemd-notify ships with systemd on every
// Raspberry Pi OS / Debian install, so it adds no dependency. Two details make it reliable:
//  - the unit sets NotifyAccess=all, because the datagram comes from the child, not the main PID;
//  - systemd-notify (systemd >= 246) waits by default until PID 1 has processed the message
//    (sd_notify_barrier), so the child is still alive when systemd attributes it to our unit by
//    cgroup. With --no-block that is racy, so we never pass it. `--pid=` names us as MAINPID.
// Each message costs a fork+exec (a few ms on a Pi 4); the watchdog sends one every
// WatchdogSec/2 (15 s with the shipped unit), which is negligible.

export interface Notifier {
  /** True when running under systemd with Type=notify (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  ready(status?: string): Promise<void>;
  stopping(status?: string): Promise<void>;
  /** Starts the WATCHDOG=1 timer when systemd asked for one (WATCHDOG_USEC). */
  startWatchdog(): void;
  close(): void;
}

export interface NotifierOptions {
  env?: NodeJS.ProcessEnv;
  /** Reports a failure to notify (systemd-notify missing, non-zero exit) once per kind. */
  onError?: (message: string) => void;
  /** The helper to run; tests substitute a recorder. */
  command?: string;
  /** Called once each message's helper run has ended, whether it worked or not (tests wait on it). */
  onSent?: (assignments: string[]) => void;
}

const NOOP: Notifier = { enabled: false, ready: async () => {}, stopping: async () => {}, startWatchdog: () => {}, close: () => {} };

/** The interval in ms at which to send WATCHDOG=1, or undefined when no watchdog applies to us. */
export function watchdogInterval(env: NodeJS.ProcessEnv, pid = process.pid): number | undefined {
  const usec = Number(env.WATCHDOG_USEC);
  if (!Number.isFinite(usec) || usec <= 0) return undefined;
  // WATCHDOG_PID names the process the watchdog is meant for; a child that inherited the
  // environment must not keep its parent alive by pinging for it.
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return undefined;
  return Math.max(1, Math.floor(usec / 2 / 1000));
}

export function createNotifier(opts: NotifierOptions = {}): Notifier {
  const env = opts.env ?? process.env;
  if (!env.NOTIFY_SOCKET) return NOOP;
  const command = opts.command ?? 'systemd-notify';
  const reported = new Set<string>();
  const report = (kind: string, message: string) => {
    if (reported.has(kind)) return;
    reported.add(kind);
    opts.onError?.(message);
  };
  let watchdog: NodeJS.Timeout | undefined;
  let pingInFlight = false;

  const send = (assignments: string[]): Promise<void> =>
    new Promise<void>((resolve) => {
      const child = spawn(command, [`--pid=${process.pid}`, ...assignments], { stdio: 'ignore', env });
      // The helper waits for PID 1 to confirm; never let a wedged one pile up or hold a shutdown.
      const limit = setTimeout(() => {
        report('timeout', `${command} ${assignments.join(' ')} did not finish within 5 s; killed it`);
        child.kill('SIGKILL');
      }, 5000);
      limit.unref();
      child.once('close', () => clearTimeout(limit));
      child.once('error', (err: NodeJS.ErrnoException) => {
        report(err.code ?? 'spawn', err.code === 'ENOENT'
          ? `${command} not found on PATH: systemd will not see READY=1/WATCHDOG=1 and will stop the service after TimeoutStartSec/WatchdogSec; install systemd or use Type=simple without WatchdogSec`
          : `cannot run ${command}: ${err.message}`);
        resolve();
      });
      child.once('exit', (code) => {
        if (code) report(`exit${code}`, `${command} ${assignments.join(' ')} exited with code ${code}; is the unit's NotifyAccess=all set?`);
        resolve();
      });
    }).then(() => opts.onSent?.(assignments));

  return {
    enabled: true,
    ready: (status) => send(['READY=1', ...(status ? [`STATUS=${status}`] : [])]),
    stopping: (status) => send(['STOPPING=1', ...(status ? [`STATUS=${status}`] : [])]),
    startWatchdog() {
      const every = watchdogInterval(env);
      if (every === undefined || watchdog) return;
      // The ping comes from a timer on the event loop, so a loop stuck in a busy or deadlocked
      // state misses it and systemd restarts the service (Restart=on-failure covers a watchdog kill).
      watchdog = setInterval(() => {
        if (pingInFlight) return;
        pingInFlight = true;
        void send(['WATCHDOG=1']).finally(() => (pingInFlight = false));
      }, every);
      watchdog.unref();
    },
    close() {
      if (watchdog) clearInterval(watchdog);
      watchdog = undefined;
    },
  };
}
