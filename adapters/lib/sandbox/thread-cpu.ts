import { readFileSync } from 'node:fs';

// A thread's CPU time from Linux's /proc (the gateway's platform): schedstat in nanoseconds where
// the kernel keeps it, else stat's utime + stime in clock ticks (USER_HZ, 100 on Linux). Node 20
// has no API for another thread's CPU time (worker.cpuUsage() came later).

/** CPU time in ms of `thread` ("<pid>/task/<tid>", from readlink /proc/thread-self); undefined if unreadable (gone, or no /proc). */
export function threadCpuMs(thread: string): number | undefined {
  try {
    const ns = Number(readFileSync(`/proc/${thread}/schedstat`, 'latin1').split(' ')[0]);
    if (ns > 0) return ns / 1e6;
  } catch {
    // Fall through to stat (schedstat missing), which fails the same way if the thread is gone.
  }
  try {
    const stat = readFileSync(`/proc/${thread}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}
