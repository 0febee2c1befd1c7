import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Check, Finding } from './types.ts';

// A Raspberry Pi has no real-time clock: until NTP syncs it boots at the last saved time
// (fake-hwclock) or 1970, and every TLS handshake to the cloud fails with "certificate is not yet
// valid" or "expired". The bundle records when it was built; a clock before that is certainly wrong.
const BUILT: string | undefined = (globalThis as { __FIELDGATE_BUILD_TIME__?: string }).__FIELDGATE_BUILD_TIME__;
const FLOOR = Date.parse(BUILT ?? '2026-01-01T00:00:00Z');

const FIX_SYNC = 'sudo timedatectl set-ntp true and check "timedatectl timesync-status" (systemd-timesyncd needs UDP 123 to an NTP server); without network time, add an RTC module';

/** Whether systemd says the clock is NTP-synchronized: true, false, or undefined if it cannot tell. */
function ntpSynchronized(): boolean | undefined {
  const r = spawnSync('timedatectl', ['show', '--property=NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 3000 });
  if (r.status === 0) return r.stdout.trim() === 'yes';
  // No timedatectl or no system bus (a container): systemd-timesyncd leaves this flag file once synced.
  if (existsSync('/run/systemd/timesync/synchronized')) return true;
  return undefined;
}

export function clockFinding(now: number, synced: boolean | undefined): Finding {
  const iso = new Date(now).toISOString();
  if (now < FLOOR) {
    return { check: 'clock', status: 'warn', message: `the clock says ${iso}, before this build of fieldgate (${new Date(FLOOR).toISOString().slice(0, 10)}): TLS to the cloud will fail`, fix: FIX_SYNC };
  }
  if (synced === false) return { check: 'clock', status: 'warn', message: `the clock (${iso}) is not NTP-synchronized; TLS fails if it drifts far`, fix: FIX_SYNC };
  if (synced === undefined) return { check: 'clock', status: 'warn', message: `cannot tell whether the clock (${iso}) is synchronized (no timedatectl answer)`, fix: 'run on the host (not in a container), or check the time by hand: date -u' };
  return { check: 'clock', status: 'ok', message: `clock synchronized (${iso})` };
}

export const clock: Check = async () => [clockFinding(Date.now(), ntpSynchronized())];
