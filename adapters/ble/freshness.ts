import type { Decoded } from './decoders/index.ts';

// Cross-packet checks on decoded advertisements, per device:
// - a packet id (BTHome 0x00, pvvx/atc counter, Ruuvi sequence) equal to the previous one is a
//   repeat of the same reading (devices send each reading several times) and is dropped;
// - an encrypted counter that did not increase is a replay and is dropped; a counter below 100
//   after a higher one is taken as the device restarting (battery swap), as Home Assistant's
//   BTHome receiver does;
// - a device with a bindkey that sends an unencrypted packet is ignored (downgrade).

export type Verdict = 'fresh' | 'repeat' | 'replay' | 'downgrade';

interface State {
  packetId?: number;
  counter?: number;
}

export class Freshness {
  private readonly state = new Map<string, State>();

  constructor(private readonly max = 10_000) {}

  check(address: string, r: Decoded, hasKey: boolean): Verdict {
    const meta = r.meta ?? {};
    if (hasKey && !meta.encrypted && (r.format === 'bthome' || r.format.startsWith('pvvx') || r.format.startsWith('atc1441'))) return 'downgrade';
    let s = this.state.get(address);
    if (!s) {
      if (this.state.size >= this.max) this.state.delete(this.state.keys().next().value!);
      s = {};
      this.state.set(address, s);
    }
    if (meta.encrypted && meta.counter !== undefined && r.format === 'bthome') {
      if (s.counter !== undefined && meta.counter <= s.counter && meta.counter >= 100) return 'replay';
      s.counter = meta.counter;
    }
    if (meta.packetId !== undefined) {
      if (s.packetId === meta.packetId) return 'repeat';
      s.packetId = meta.packetId;
    }
    return 'fresh';
  }

  forget(address: string): void {
    this.state.delete(address);
  }
}
