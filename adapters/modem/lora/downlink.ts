import type { ModemConfig } from '../config.ts';
import { timeOnAirMs } from './airtime.ts';
import { bandFor, DutyCycleLedger } from './duty-cycle.ts';
import { loadLedger, saveLedger } from './duty-ledger-file.ts';
import { TxError } from './driver.ts';

export interface DownlinkRequest {
  payload: Buffer;
  /** Echoed in the status message when the request carried one. */
  id?: string | number;
}

export type DownlinkStatus =
  | { status: 'sent'; airtime_ms: number }
  | { status: 'failed'; on_air: 'no' | 'unknown'; reason: string; airtime_ms: number }
  | { status: 'refused'; reason: string; cause: 'duty_cycle' | 'queue_full' | 'invalid' | 'not_ready' };

interface Item extends DownlinkRequest {
  airtimeMs: number;
  deadline: number;
}

export interface DownlinkHost {
  /** Whether the modem is up and receiving (a downlink waits otherwise). */
  ready(): boolean;
  transmit(payload: Buffer, airtimeMs: number): Promise<void>;
  done(req: DownlinkRequest, s: DownlinkStatus): void;
  /** The ledger could not be written: the send goes ahead (the in-memory ledger still holds), the host warns. */
  ledgerNotSaved(err: Error): void;
}

/** LoRa PHY limit, and what RUI3 AT+PSEND and RN2483 radio tx accept. */
export const MAX_LORA_PAYLOAD = 255;

/**
 * Downlinks of one modem, one at a time, under the duty-cycle budget of the configured frequency's
 * sub-band: a send that does not fit waits up to duty_cycle.max_wait, otherwise it is refused with
 * the reason. Airtime is booked before the send, so a send whose outcome is unknown still counts.
 */
export class DownlinkQueue {
  private readonly items: Item[] = [];
  private busy = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  readonly ledger: DutyCycleLedger | undefined;

  /** `ledgerFile`: where the ledger is kept across restarts (undefined: memory only, for unit tests). */
  constructor(private readonly cfg: ModemConfig, private readonly host: DownlinkHost, private readonly ledgerFile?: string) {
    if (cfg.duty_cycle.region === 'eu868') {
      const band = bandFor(cfg.lora.frequency);
      if (!band) {
        const f = cfg.lora.frequency;
        const where = f >= 863_000_000 && f <= 870_000_000 ? 'in a gap between the EU868 sub-bands (868.6-868.7 or 869.2-869.4 MHz, where ETSI allows no duty-cycled transmissions)' : 'outside every EU868 sub-band (863-870 MHz)';
        throw new Error(`modem ${cfg.name}: ${f} Hz is ${where}; fix lora.frequency or set duty_cycle.region: none`);
      }
      this.ledger = new DutyCycleLedger(band);
      if (ledgerFile) loadLedger(ledgerFile, this.ledger);
    }
  }

  get length(): number {
    return this.items.length;
  }

  push(req: DownlinkRequest): void {
    if (req.payload.length === 0 || req.payload.length > MAX_LORA_PAYLOAD) {
      return this.host.done(req, { status: 'refused', cause: 'invalid', reason: `payload of ${req.payload.length} bytes: a LoRa downlink carries 1-${MAX_LORA_PAYLOAD} bytes` });
    }
    if (this.items.length >= this.cfg.duty_cycle.max_queue) {
      return this.host.done(req, { status: 'refused', cause: 'queue_full', reason: `${this.items.length} downlinks already waiting (duty_cycle.max_queue)` });
    }
    const airtimeMs = timeOnAirMs(req.payload.length, this.cfg.lora);
    this.items.push({ ...req, airtimeMs, deadline: Date.now() + this.cfg.duty_cycle.max_wait });
    this.kick();
  }

  /** Try to send what waits (also called when the modem becomes ready). */
  kick(): void {
    if (this.busy || this.stopped) return;
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.host.ready()) return this.expireWhileNotReady();
    const item = this.items[0];
    if (!item) return;
    const adm = this.ledger?.check(item.airtimeMs) ?? { ok: true as const };
    if (!adm.ok) {
      if (Date.now() + adm.waitMs > item.deadline) {
        this.items.shift();
        this.host.done(item, { status: 'refused', cause: 'duty_cycle', reason: adm.reason });
        return this.kick();
      }
      this.timer = setTimeout(() => this.kick(), adm.waitMs + 1);
      return;
    }
    this.items.shift();
    this.ledger?.record(item.airtimeMs);
    this.persistLedger();
    this.busy = true;
    this.host.transmit(item.payload, item.airtimeMs).then(
      () => this.finish(item, { status: 'sent', airtime_ms: round(item.airtimeMs) }),
      (err: Error) => this.finish(item, { status: 'failed', on_air: err instanceof TxError ? err.onAir : 'unknown', reason: err.message, airtime_ms: round(item.airtimeMs) }),
    );
  }

  /** max_wait applies while the modem is down or recovering too: nothing waits for it forever. */
  private expireWhileNotReady(): void {
    const now = Date.now();
    // Every item has the same max_wait, so deadlines are in queue order.
    for (let it = this.items[0]; it && it.deadline <= now; it = this.items[0]) {
      this.items.shift();
      this.host.done(it, { status: 'refused', cause: 'not_ready', reason: `modem ${this.cfg.name} was not ready (port closed or module not answering) within duty_cycle.max_wait (${this.cfg.duty_cycle.max_wait} ms)` });
    }
    const next = this.items[0];
    if (next) this.timer = setTimeout(() => this.kick(), next.deadline - now + 1);
  }

  private persistLedger(): void {
    if (!this.ledger || !this.ledgerFile) return;
    try {
      saveLedger(this.ledgerFile, this.ledger);
    } catch (err) {
      this.host.ledgerNotSaved(err as Error);
    }
  }

  private finish(item: Item, s: DownlinkStatus): void {
    this.busy = false;
    this.host.done(item, s);
    this.kick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
