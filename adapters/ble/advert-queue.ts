import type { Advert } from './decoders/index.ts';

// noble reports advertisements synchronously, as fast as the controller sends them, and a burst
// (a first scan among thousands of devices, a flood) would otherwise turn into as many publishes
// in one event-loop turn: aedes' emitter then recursed once per queued message until the stack
// overflowed. Adverts wait here and are handled at most `batch` per turn, and only while fewer than
// `maxInFlight` publishes are unsettled; beyond `max` waiting adverts new ones are dropped and counted.

export interface AdvertQueueOptions {
  max: number;
  batch: number;
  maxInFlight: number;
  handle(ad: Advert): void;
  dropped(): void;
}

export class AdvertQueue {
  private items: Advert[] = [];
  private head = 0;
  private scheduled?: NodeJS.Immediate;
  private inFlight = 0;
  private closed = false;

  constructor(private readonly o: AdvertQueueOptions) {}

  get length(): number {
    return this.items.length - this.head;
  }

  push(ad: Advert): void {
    if (this.closed) return;
    if (this.length >= this.o.max) return this.o.dropped();
    this.items.push(ad);
    this.schedule();
  }

  /** A publish started by a handled advert; call the returned function when it settles. */
  publishing(): () => void {
    this.inFlight++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.inFlight--;
      this.schedule();
    };
  }

  close(): void {
    this.closed = true;
    if (this.scheduled) clearImmediate(this.scheduled);
    this.scheduled = undefined;
    this.items = [];
    this.head = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.closed || this.length === 0 || this.inFlight >= this.o.maxInFlight) return;
    this.scheduled = setImmediate(() => this.drain());
  }

  private drain(): void {
    this.scheduled = undefined;
    for (let n = 0; n < this.o.batch && this.length > 0 && this.inFlight < this.o.maxInFlight && !this.closed; n++) {
      const ad = this.items[this.head++]!;
      this.o.handle(ad);
    }
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    this.schedule();
  }
}
