/**
 * Byte-oriented framer for AT-style serial modems (pure: no I/O, no timers). Bytes go in with
 * push(); events come out through the callback, synchronously and in order, so a handler can switch
 * the framer into raw mode (expectRaw) and the very next byte of the same chunk is read raw.
 *
 * - Lines end at CR, LF or CRLF (a lone CR or LF is accepted: BC66 echo quirk); empty lines are dropped.
 * - Bytes outside printable ASCII are dropped from lines: line noise at power-up and a USB reconnect
 *   (0x00, 0xFF) must not glue itself to the next URC and make its anchored pattern miss.
 * - A prompt (e.g. `> ` for BG96 AT+QISEND) has no newline: it is reported when armed and the
 *   pending bytes equal it exactly.
 * - A line longer than maxLine without a terminator is discarded (reported as `overflow`).
 */
export type FramerEvent = { kind: 'line'; text: string } | { kind: 'prompt'; text: string } | { kind: 'raw'; data: Buffer } | { kind: 'overflow'; bytes: number };

export interface FramerOptions {
  maxLine?: number;
}

const CR = 0x0d;
const LF = 0x0a;

export class LineFramer {
  private line: number[] = [];
  private dropped = 0;
  private lastWasCr = false;
  private rawLeft = 0;
  private rawParts: Buffer[] = [];
  private prompt: string | undefined;
  private readonly maxLine: number;

  constructor(private readonly emit: (e: FramerEvent) => void, opts: FramerOptions = {}) {
    this.maxLine = opts.maxLine ?? 1024;
  }

  /** The next `n` bytes are delivered as one `raw` event, whatever they contain. */
  expectRaw(n: number): void {
    if (n <= 0) {
      this.emit({ kind: 'raw', data: Buffer.alloc(0) });
      return;
    }
    this.rawLeft = n;
    this.rawParts = [];
  }

  /** Report `text` (without newline) as a prompt while armed; undefined disarms. */
  armPrompt(text: string | undefined): void {
    this.prompt = text;
    if (text !== undefined) this.checkPrompt();
  }

  get pendingBytes(): number {
    return this.line.length;
  }

  /** Forget a partial line (after a port reopen the old bytes belong to nobody). */
  reset(): void {
    this.line = [];
    this.dropped = 0;
    this.lastWasCr = false;
    this.rawLeft = 0;
    this.rawParts = [];
  }

  push(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.rawLeft > 0) {
        // The LF of the announcing line's CRLF is part of that line, not of the data.
        if (this.lastWasCr && chunk[i] === LF && this.rawParts.length === 0) {
          this.lastWasCr = false;
          i++;
          continue;
        }
        this.lastWasCr = false;
        const take = Math.min(this.rawLeft, chunk.length - i);
        this.rawParts.push(chunk.subarray(i, i + take));
        this.rawLeft -= take;
        i += take;
        if (this.rawLeft === 0) {
          const data = Buffer.concat(this.rawParts);
          this.rawParts = [];
          this.lastWasCr = false;
          this.emit({ kind: 'raw', data });
        }
        continue;
      }
      const b = chunk[i++] as number;
      if (b === CR || b === LF) {
        // CRLF is one terminator; CR CR or LF LF just produce empty lines, which are dropped.
        if (b === LF && this.lastWasCr) {
          this.lastWasCr = false;
          continue;
        }
        this.lastWasCr = b === CR;
        this.endLine();
        continue;
      }
      this.lastWasCr = false;
      if (b < 0x20 || b > 0x7e) continue;
      if (this.line.length >= this.maxLine) {
        this.dropped++;
        continue;
      }
      this.line.push(b);
      if (this.prompt !== undefined) this.checkPrompt();
    }
  }

  private checkPrompt(): void {
    const p = this.prompt;
    if (p === undefined || this.line.length !== p.length) return;
    if (String.fromCharCode(...this.line) !== p) return;
    this.line = [];
    this.prompt = undefined;
    this.emit({ kind: 'prompt', text: p });
  }

  private endLine(): void {
    if (this.dropped > 0) {
      const bytes = this.line.length + this.dropped;
      this.line = [];
      this.dropped = 0;
      this.emit({ kind: 'overflow', bytes });
      return;
    }
    if (this.line.length === 0) return;
    const text = String.fromCharCode(...this.line);
    this.line = [];
    this.emit({ kind: 'line', text });
  }
}
