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
 * (SF11/SF12 at 125 kHz), as the modules set it.
 */
export function timeOnAirMs(length: number, p: LoraParams): number {
  const tsym = 2 ** p.sf / p.bw; // ms, since bw is in kHz
  const de = tsym > 16 ? 1 : 0;
  const ih = p.implicitHeader ? 1 : 0;
  const crc = p.crc === false ? 0 : 1;
  const tpre = (p.preamble + 4.25) * tsym;
  const num = 8 * length - 4 * p.sf + 28 + 16 * crc - 20 * ih;
  const nPay = 8 + Math.max(Math.ceil(num / (4 * (p.sf - 2 * de))) * (p.cr + 1 + 4), 0);
  return tpre + nPay * tsym;
}
