// One registered device: where it is, what it registered, and its commands: one request in flight,
// a bounded FIFO behind it, queue mode (commands wait for the device's next message), expiry.
import type { Command, OutRequest } from './commands.ts';
import { isQueueMode, type RegInfo } from './registration.ts';

export interface Peer {
  address: string;
  port: number;
}

export interface Pending {
  cmd: Command;
  request: OutRequest;
  /** Clock time after which an unsent command is dropped and reported. */
  expiresAt: number;
  /** Sent by the gateway itself (re-observing after a rebind): its response is not published. */
  silent?: boolean;
}

/** What a device needs from the adapter: the clock, sending one command, reporting a dropped one. */
export interface DeviceIo {
  now(): number;
  /** Sends the command and publishes its outcome; resolves when the exchange is over. Never rejects. */
  send(dev: Device, p: Pending): Promise<void>;
  expired(dev: Device, p: Pending): void;
}

export interface DeviceLimits {
  maxQueued: number;
  windowMs: number;
}

export class Device {
  readonly queue: Pending[] = [];
  inflight?: Pending;
  /** Settles when the exchange of `inflight` is over. */
  private inflightDone?: Promise<void>;
  /** Queue mode: a request timed out, so the device is taken to be asleep until it speaks again. */
  asleep = false;
  lastSeen: number;
  /** Active observations by path: the token they were registered with and the command that asked. */
  readonly observations = new Map<string, { token: Buffer; cmd: Command }>();
  closed = false;

  constructor(
    readonly ep: string,
    readonly regId: string,
    readonly clientid: string,
    readonly username: string | undefined,
    public transport: string,
    public peer: Peer,
    public reg: RegInfo,
    public lifetimeMs: number,
    private readonly io: DeviceIo,
    private readonly limits: DeviceLimits,
  ) {
    this.lastSeen = io.now();
  }

  get queueMode(): boolean {
    return isQueueMode(this.reg);
  }

  get address(): string {
    return this.peer.address.includes(':') ? `[${this.peer.address}]:${this.peer.port}` : `${this.peer.address}:${this.peer.port}`;
  }

  /** Queue-mode devices listen only for `qmode_time_window` after their last message. */
  reachable(): boolean {
    if (!this.queueMode) return true;
    return !this.asleep && this.io.now() - this.lastSeen < this.limits.windowMs;
  }

  /** The device sent something: it is awake (and, after an Update or Register, queued commands go). */
  heard(): void {
    this.lastSeen = this.io.now();
    this.asleep = false;
  }

  /** Queues a command; false when the queue is full (the caller answers 5.03). */
  enqueue(p: Pending): boolean {
    if (this.queue.length >= this.limits.maxQueued) return false;
    this.queue.push(p);
    this.pump();
    return true;
  }

  /** Drops queued commands past their expiry, reporting each. */
  expire(): void {
    const now = this.io.now();
    for (let i = 0; i < this.queue.length; ) {
      const p = this.queue[i]!;
      if (p.expiresAt <= now) {
        this.queue.splice(i, 1);
        this.io.expired(this, p);
      } else i++;
    }
  }

  /** Sends the next command when none is in flight and the device is reachable. */
  pump(): void {
    if (this.closed || this.inflight) return;
    this.expire();
    if (this.queue.length === 0 || !this.reachable()) return;
    const p = this.queue.shift()!;
    this.inflight = p;
    this.follow(p, this.io.send(this, p));
  }

  private follow(p: Pending, done: Promise<void>): void {
    this.inflightDone = done;
    void done.finally(() => {
      if (this.inflight === p) {
        this.inflight = undefined;
        this.inflightDone = undefined;
      }
      this.pump();
    });
  }

  /**
   * Re-registration: takes over `prev`'s queue and the command it still has in flight, so one
   * request at a time holds across the two registrations (nothing more is sent until it is over).
   */
  inherit(prev: Device): void {
    const p = prev.inflight;
    const done = prev.inflightDone;
    this.queue.push(...prev.close());
    if (p && done) {
      this.inflight = p;
      this.follow(p, done);
    }
  }

  /** The device is gone: queued commands are dropped (returned for reporting). */
  close(): Pending[] {
    this.closed = true;
    return this.queue.splice(0);
  }
}
