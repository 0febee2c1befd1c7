import type { AtEngine } from '../at/engine.ts';
import { isAtError } from '../at/errors.ts';
import type { ModemConfig } from '../config.ts';
import { hexOf, idempotent, TxError, type DriverEvents, type LoraDriver } from './driver.ts';

// RUI3 event lines (modems.md §1.1), current format first, then the variants to tolerate.
// The payload must be whole bytes; an empty or odd-length one (a corrupted line) is reported as malformed.
const RX = /^\+EVT:RXP2P:(?:RSSI\s*)?(-?\d+):(?:SNR\s*)?(-?\d+):((?:[0-9A-Fa-f]{2})+)$/;
const RX_BAD = /^\+EVT:RXP2P:(?:RSSI\s*)?-?\d+:(?:SNR\s*)?-?\d+:(.*)$/;
const RX_LEGACY_META = /^\+EVT:RXP2P,\s*RSSI\s*(-?\d+),\s*SNR\s*(-?\d+)$/;
const RX_LEGACY_DATA = /^\+EVT:((?:[0-9A-Fa-f]{2})+)$/;
const RX_END = /^\+EVT:RXP2P[ _]RECEIVE[ _](TIMEOUT|ERROR)$/;
const TX_DONE = /^\+EVT:TXP2P[ _]DONE$/;
const BANNER = /^Current Work Mode: (LoRa P2P|LoRaWAN|FSK P2P)\.?$/;
const BANNER_NOISE = /^(RAKwireless .*|RAK\d+.*Version.*|-{5,})$/;
const CONTINUOUS = 65534;

/** RAK3172 (and other RUI3 modules) in LoRa P2P: continuous receive, stop/send/re-arm to transmit. */
export class Rak3172Driver implements LoraDriver {
  version: string | undefined;
  receiving = false;
  private initializing = false;
  private legacyMeta: { rssi: number; snr: number } | undefined;

  constructor(
    private readonly engine: AtEngine,
    private readonly cfg: ModemConfig,
    private readonly events: DriverEvents,
  ) {
    engine.onUrc(RX, (m) => events.frame({ rssi: Number(m[1]), snr: Number(m[2]), payload: Buffer.from(m[3] ?? '', 'hex') }));
    engine.onUrc(RX_BAD, (m) => events.malformed(`+EVT:RXP2P with a payload that is not whole hex bytes ("${(m[1] ?? '').slice(0, 16)}")`));
    engine.onUrc(RX_LEGACY_META, (m) => (this.legacyMeta = { rssi: Number(m[1]), snr: Number(m[2]) }));
    engine.onUrc(RX_LEGACY_DATA, (m) => {
      const meta = this.legacyMeta;
      this.legacyMeta = undefined;
      events.frame({ rssi: meta?.rssi, snr: meta?.snr, payload: Buffer.from(m[1] ?? '', 'hex') });
    });
    // In continuous mode these should not come; if a window did end, the probe re-runs init. They are claimed here so they never count as info lines of a command.
    engine.onUrc(RX_END, () => (this.receiving = false));
    engine.onUrc(BANNER_NOISE, () => {});
    engine.onUrc(BANNER, (m) => {
      this.receiving = false;
      if (!this.initializing) events.rebooted(m[0]);
    });
  }

  private cmd(command: string) {
    return idempotent(this.engine, this.cfg, command);
  }

  async init(): Promise<void> {
    this.initializing = true;
    try {
      // A partial line left in the module's buffer (we may have been killed mid-command) is flushed by the first CRLF.
      const at = await this.cmd('AT');
      if (at.echoed) await this.cmd('ATE'); // RUI3's ATE toggles: only send it when echo is on.
      const ver = await this.cmd('AT+VER=?');
      this.version = ver.lines.map((l) => l.replace(/^AT\+VER=/, '')).find((l) => l.length > 0);
      const nwm = await this.cmd('AT+NWM=?');
      const mode = /^(?:AT\+NWM=)?(\d)$/.exec(nwm.lines.find((l) => /^(?:AT\+NWM=)?\d$/.test(l)) ?? '');
      if (mode?.[1] !== '0') await this.engine.send('AT+NWM=0', { done: BANNER, timeoutMs: this.cfg.timeouts.reboot });
      await this.cmd('AT+PRECV=0');
      const l = this.cfg.lora;
      await this.cmd(`AT+P2P=${l.frequency}:${l.sf}:${l.bw}:${l.cr}:${l.preamble}:${l.power}`);
      await this.cmd(`AT+PRECV=${CONTINUOUS}`);
      this.receiving = true;
    } finally {
      this.initializing = false;
    }
  }

  async transmit(payload: Buffer, airtimeMs: number): Promise<void> {
    try {
      await this.cmd('AT+PRECV=0');
    } catch (err) {
      throw new TxError('no', `could not leave receive mode: ${(err as Error).message}`);
    }
    this.receiving = false;
    let failure: unknown;
    try {
      await this.send(payload, airtimeMs);
    } catch (err) {
      failure = err;
    }
    // Receive comes back whatever happened to the send. If the re-arm fails, `receiving` stays false
    // and the caller's recovery takes over; the send's own outcome is what gets reported.
    try {
      await this.cmd(`AT+PRECV=${CONTINUOUS}`);
      this.receiving = true;
    } catch {
      this.receiving = false;
    }
    if (failure) throw failure;
  }

  private async send(payload: Buffer, airtimeMs: number): Promise<void> {
    const command = `AT+PSEND=${hexOf(payload)}`;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const done = this.engine.expect(TX_DONE, this.cfg.timeouts.command + airtimeMs + this.cfg.timeouts.tx_margin);
      try {
        await this.engine.send(command, { timeoutMs: this.cfg.timeouts.command });
      } catch (err) {
        done.cancel();
        if (isAtError(err, 'error') && err.final === 'AT_BUSY_ERROR') {
          // Busy means refused, so nothing went on air: leave receive again and retry.
          await this.cmd('AT+PRECV=0');
          continue;
        }
        if (isAtError(err, 'error')) throw new TxError('no', `module refused the send: ${err.final}`);
        throw new TxError('unknown', `${(err as Error).message}; not re-sent (it may have gone on air)`);
      }
      // OK: from here on the frame may be on air, so it is never sent again.
      try {
        await done.promise;
        return;
      } catch (err) {
        throw new TxError('unknown', `no +EVT:TXP2P DONE after OK (${(err as Error).message}); not re-sent`);
      }
    }
    throw new TxError('no', 'module kept answering AT_BUSY_ERROR');
  }

  async ping(timeoutMs: number): Promise<void> {
    await this.engine.send('AT', { timeoutMs, priority: true });
  }

  async softReset(): Promise<void> {
    this.initializing = true;
    try {
      await this.engine.send('ATZ', { done: BANNER, timeoutMs: this.cfg.timeouts.reboot, priority: true });
    } finally {
      this.initializing = false;
    }
  }
}
