import type { AtEngine } from '../at/engine.ts';
import { isAtError } from '../at/errors.ts';
import type { ModemConfig } from '../config.ts';
import { hexOf, idempotent, TxError, type DriverEvents, type LoraDriver } from './driver.ts';

// RN2483 command reference DS40001784G; lines per modems.md §1.3.
const RX = /^radio_rx\s+([0-9A-Fa-f]+)$/;
const RADIO_ERR = /^radio_err$/;
const TX_END = /^radio_(tx_ok|err)$/;
const BANNER = /^RN2[49]83 \d+\.\d+\.\d+/;
const CR_NAMES = ['4/5', '4/6', '4/7', '4/8'];

/** Microchip RN2483/RN2903 in raw radio mode: `radio rx 0`, re-armed after every packet. */
export class Rn2483Driver implements LoraDriver {
  version: string | undefined;
  /** `packet`: a packet ended receive and its re-arm is on the way (reading SNR and RSSI first). */
  private state: 'idle' | 'rx' | 'packet' | 'tx' = 'idle';
  private initializing = false;

  constructor(
    private readonly engine: AtEngine,
    private readonly cfg: ModemConfig,
    private readonly events: DriverEvents,
  ) {
    engine.onUrc(RX, (m) => this.onPacket(Buffer.from(m[1] ?? '', 'hex')));
    engine.onUrc(RADIO_ERR, () => {
      // Receive ended without a packet (CRC error, watchdog): re-arm unless a transmission owns the radio.
      if (this.state === 'rx') void this.rearm();
    });
    engine.onUrc(BANNER, (m) => {
      this.state = 'idle';
      if (!this.initializing) events.rebooted(m[0]);
    });
  }

  private cmd(command: string, value = false) {
    return idempotent(this.engine, this.cfg, command, { value });
  }

  private onPacket(payload: Buffer): void {
    const rearm = this.state === 'rx';
    if (rearm) this.state = 'packet';
    void this.finishPacket(payload, rearm);
  }

  /** Signal quality is read after the packet (the module only reports it on request), then receive is re-armed. */
  private async finishPacket(payload: Buffer, rearm: boolean): Promise<void> {
    let snr: number | undefined;
    let rssi: number | undefined;
    try {
      if (rearm) {
        snr = Number((await this.engine.send('radio get snr', { value: true, timeoutMs: this.cfg.timeouts.command })).final);
        // `radio get rssi` needs firmware 1.0.5; older modules answer invalid_param.
        rssi = Number((await this.engine.send('radio get rssi', { value: true, timeoutMs: this.cfg.timeouts.command })).final);
      }
    } catch {
      // The frame matters more than its signal figures.
    }
    this.events.frame({ payload, snr: Number.isFinite(snr) ? snr : undefined, rssi: Number.isFinite(rssi) ? rssi : undefined });
    // Not when something else took the radio meanwhile (a transmission, a set-up): it re-armed already.
    if (rearm && this.state === 'packet') await this.rearm();
  }

  private async rearm(): Promise<void> {
    if (this.state === 'tx') return;
    // Receiving from the moment the command is written: a packet can arrive in the same chunk as its ok.
    this.state = 'rx';
    try {
      await this.cmd('radio rx 0');
    } catch {
      // The probe notices a module that is not receiving and runs the recovery ladder.
      this.state = 'idle';
    }
  }

  /**
   * Between a packet and its re-arm the module is not listening, but the re-arm is coming: that
   * counts as receiving, or a probe answered meanwhile would set the module up again and its
   * `radio rx 0` would collide with the re-arm's (answered busy).
   */
  get receiving(): boolean {
    return this.state === 'rx' || this.state === 'packet';
  }

  async init(): Promise<void> {
    this.initializing = true;
    this.state = 'idle';
    try {
      // The version line looks like the reboot banner, so it is claimed as this command's result first.
      const ver = await idempotent(this.engine, this.cfg, 'sys get ver', { done: BANNER });
      this.version = ver.final;
      const pause = await this.cmd('mac pause', true);
      if (pause.final.trim() === '0') throw new Error('mac pause answered 0: the LoRaWAN stack could not be paused');
      const l = this.cfg.lora;
      for (const c of [
        'radio set mod lora',
        `radio set freq ${l.frequency}`,
        `radio set pwr ${l.power}`,
        `radio set sf sf${l.sf}`,
        `radio set bw ${l.bw}`,
        `radio set cr ${CR_NAMES[l.cr] ?? '4/5'}`,
        `radio set prlen ${l.preamble}`,
        'radio set crc on',
        `radio set sync ${l.sync_word}`,
        // The radio watchdog would end continuous receive every 15 s with radio_err.
        'radio set wdt 0',
      ]) {
        await this.cmd(c);
      }
      this.state = 'rx';
      await this.cmd('radio rx 0');
    } catch (err) {
      this.state = 'idle';
      throw err;
    } finally {
      this.initializing = false;
    }
  }

  async transmit(payload: Buffer, airtimeMs: number): Promise<void> {
    this.state = 'tx';
    let failure: unknown;
    try {
      await this.cmd('radio rxstop');
      await this.send(payload, airtimeMs);
    } catch (err) {
      failure = err instanceof TxError ? err : new TxError('no', `could not leave receive mode: ${(err as Error).message}`);
    }
    // Receive comes back whatever happened to the send. If the re-arm fails, `receiving` says so and
    // the caller's recovery takes over; the send's own outcome is what gets reported.
    this.state = 'rx';
    try {
      await this.cmd('radio rx 0');
    } catch {
      this.state = 'idle';
    }
    if (failure) throw failure;
  }

  private async send(payload: Buffer, airtimeMs: number): Promise<void> {
    const command = `radio tx ${hexOf(payload)}`;
    for (let attempt = 1; attempt <= 3; attempt++) {
      const end = this.engine.expect(TX_END, this.cfg.timeouts.command + airtimeMs + this.cfg.timeouts.tx_margin);
      try {
        await this.engine.send(command, { timeoutMs: this.cfg.timeouts.command });
      } catch (err) {
        end.cancel();
        if (isAtError(err, 'error') && err.final === 'busy') {
          await this.cmd('radio rxstop');
          continue;
        }
        if (isAtError(err, 'error')) throw new TxError('no', `module refused the send: ${err.final}`);
        throw new TxError('unknown', `${(err as Error).message}; not re-sent (it may have gone on air)`);
      }
      let m: RegExpExecArray;
      try {
        m = await end.promise;
      } catch (err) {
        throw new TxError('unknown', `no radio_tx_ok after ok (${(err as Error).message}); not re-sent`);
      }
      if (m[1] === 'tx_ok') return;
      throw new TxError('unknown', 'radio_err after radio tx (transmission interrupted); not re-sent');
    }
    throw new TxError('no', 'module kept answering busy');
  }

  async ping(timeoutMs: number): Promise<void> {
    await this.engine.send('sys get ver', { done: BANNER, timeoutMs, priority: true });
  }

  async softReset(): Promise<void> {
    this.initializing = true;
    this.state = 'idle';
    try {
      await this.engine.send('sys reset', { done: BANNER, timeoutMs: this.cfg.timeouts.reboot, priority: true });
    } finally {
      this.initializing = false;
    }
  }
}
