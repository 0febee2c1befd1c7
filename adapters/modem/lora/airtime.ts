export interface LoraParams {
  /** Spreading factor 5..12. */
  sf: number;
  /** Bandwidth in kHz: 125 | 250 | 500. */
  bw: number;
  /** Coding rate index as RUI3 counts it: 0 = 4/5 .. 3 = 4/8. */
  cr: number;
  preamble: number;
  crc?: boolean;
  /** Implicit header mode (no PHY header). */
  implicitHeader?: boolean;
}

/**
 * LoRa time on air in milliseconds for a PHY payload of `length` bytes (Semtech SX1276 datasheet
 * §4.1.1.6, AN1200.13). Low data rate optimisation is on when a symbol lasts more than 16 ms
 * (SF11/SF12 at 125 kHz), as the modules set it. SF5 and SF6 exist only on the SX126x (RAK3172),
 * whose datasheet (SX1261/2 §6.1.4) counts them differently: a preamble of Npre + 6.25 symbols and
 * no 8-bit term in the payload symbols.
 */
export function timeOnAirMs(length: number, p: LoraParams): number {
  const tsym = 2 ** p.sf / p.bw; // ms, since bw is in kHz
  const de = tsym > 16 ? 1 : 0;
  const ih = p.implicitHeader ? 1 : 0;
  const crc = p.crc === false ? 0 : 1;
  const sx126xLowSf = p.sf < 7;
  const tpre = (p.preamble + (sx126xLowSf ? 6.25 : 4.25)) * tsym;
  const num = 8 * length - 4 * p.sf + (sx126xLowSf ? 20 : 28) + 16 * crc - 20 * ih;
  const nPay = 8 + Math.max(Math.ceil(num / (4 * (p.sf - 2 * de))) * (p.cr + 1 + 4), 0);
  return tpre + nPay * tsym;
}
