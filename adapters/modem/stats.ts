import type { AdapterContext } from '../../gateway/core/adapter.ts';

export interface Count {
  inc(by?: number): void;
  readonly value: number;
}

export type DropReason = 'malformed' | 'unknown_node' | 'bad_mic' | 'replay' | 'duplicate' | 'publish_failed' | 'backlog';
export type DownlinkOutcome = 'sent' | 'failed' | 'refused_duty_cycle' | 'refused_queue_full' | 'refused_invalid' | 'refused_not_ready';

/** One modem's counters, created once; they appear under adapters/modem/{modem}/... in $SYS. */
export class ModemStats {
  readonly framesReceived: Count;
  readonly framesPublished: Count;
  readonly decodeErrors: Count;
  readonly dropped: Record<DropReason, Count>;
  readonly downlinks: Record<DownlinkOutcome, Count>;
  /** Time on air sent, in seconds (Prometheus base unit). */
  readonly airtime: Count;
  readonly recoveries: Count;
  readonly reboots: Count;
  readonly unexpectedLines: Count;
  readonly probes: Count;

  constructor(readonly metrics: AdapterContext['metrics'], modem: string) {
    const c = (n: string) => metrics.counter(`{modem}/${n}`, { modem });
    this.framesReceived = c('frames/received');
    this.framesPublished = c('frames/published');
    this.decodeErrors = c('frames/decode_errors');
    this.dropped = {
      malformed: c('frames/dropped/malformed'),
      unknown_node: c('frames/dropped/unknown_node'),
      bad_mic: c('frames/dropped/bad_mic'),
      replay: c('frames/dropped/replay'),
      duplicate: c('frames/dropped/duplicate'),
      publish_failed: c('frames/dropped/publish_failed'),
      backlog: c('frames/dropped/backlog'),
    };
    this.downlinks = {
      sent: c('downlinks/sent'),
      failed: c('downlinks/failed'),
      refused_duty_cycle: c('downlinks/refused/duty_cycle'),
      refused_queue_full: c('downlinks/refused/queue_full'),
      refused_invalid: c('downlinks/refused/invalid'),
      refused_not_ready: c('downlinks/refused/not_ready'),
    };
    this.airtime = c('airtime/tx_seconds');
    this.recoveries = c('recoveries');
    this.reboots = c('reboots');
    this.unexpectedLines = c('at/unexpected_lines');
    this.probes = c('probes');
  }

  /** A total another object keeps (port opens, AT timeouts): a Prometheus counter, read on scrape. */
  counter(modem: string, name: string, read: () => number): void {
    this.metrics.counterFn(`{modem}/${name}`, read, { modem });
  }

  gauge(modem: string, name: string, read: () => number): void {
    this.metrics.gaugeFn(`{modem}/${name}`, read, { modem });
  }
}
