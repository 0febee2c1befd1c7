import type { AdapterContext } from '../../../gateway/core/adapter.ts';
import type { Count } from '../stats.ts';

/** One NB-IoT modem's counters and gauges; they appear under adapters/modem/{modem}/... in $SYS. */
export class NbiotStats {
  readonly received: Count;
  readonly sent: Count;
  readonly sendFailed: Count;
  readonly refusedTooLarge: Count;
  readonly refusedNotReady: Count;
  readonly malformed: Count;
  readonly dropped: Count;
  readonly socketReopens: Count;
  readonly recoveries: Count;
  readonly reboots: Count;
  readonly unexpectedLines: Count;

  constructor(private readonly metrics: AdapterContext['metrics'], private readonly modem: string) {
    const c = (n: string) => metrics.counter(`{modem}/${n}`, { modem });
    this.received = c('datagrams/received');
    this.sent = c('datagrams/sent');
    this.sendFailed = c('datagrams/send_failed');
    this.refusedTooLarge = c('datagrams/refused/too_large');
    this.refusedNotReady = c('datagrams/refused/not_ready');
    this.malformed = c('datagrams/malformed');
    this.dropped = c('datagrams/dropped');
    this.socketReopens = c('socket/reopens');
    this.recoveries = c('recoveries');
    this.reboots = c('reboots');
    this.unexpectedLines = c('at/unexpected_lines');
  }

  gauges(g: Record<'ready' | 'portOpen' | 'socketOpen' | 'registration' | 'attached' | 'csq' | 'rssiDbm' | 'timeouts', () => number>): void {
    const f = (n: string, read: () => number) => this.metrics.gaugeFn(`{modem}/${n}`, read, { modem: this.modem });
    f('ready', g.ready);
    f('port/open', g.portOpen);
    f('socket/open', g.socketOpen);
    f('network/registration', g.registration);
    f('network/attached', g.attached);
    f('signal/csq', g.csq);
    f('signal/rssi_dbm', g.rssiDbm);
    // Only ever grows: a counter (fieldgate_adapters_at_timeouts_total), as for the LoRa modems.
    this.metrics.counterFn(`{modem}/at/timeouts`, g.timeouts, { modem: this.modem });
  }
}
