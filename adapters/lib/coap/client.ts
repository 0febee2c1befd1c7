// The client role: requests sent from the endpoint's own socket (an LwM2M server reading a
// device), matched to responses by peer + token (RFC 7252 5.3.2), with CON retransmission,
// separate responses, Block2 reads and Block1 uploads (RFC 7959), and Observe (RFC 7641).
import { randomBytes } from 'node:crypto';
import { generate, type ParsedPacket } from 'coap-packet';
import { blockSize, decodeBlock, encodeBlock, sliceBlock, type Block } from './block.ts';
import { LruMap } from './bounded.ts';
import type { Link } from './link.ts';
import { CoapExchangeError, CoapResetError, CoapTimeoutError } from './errors.ts';
import { optionValue, toResponse, type CoapOption, type CoapResponse, type Method } from './message.ts';
import { MAX_TRANSMIT_WAIT_MS } from './transmit.ts';
import { peerKey, type Peer } from './transport.ts';
import { emptyAckFor, readUint, uintOption } from './wire.ts';

export interface ClientRequest {
  method: Method;
  /** Uri-Path segments (or "/a/b" text). */
  path?: string[] | string;
  /** Uri-Query values, "k=v". */
  query?: string[];
  /** More options (Content-Format, Accept, ...). Uri-Path/Uri-Query/Observe/Block are added from the fields here. */
  options?: CoapOption[];
  payload?: Buffer | string;
  /** CON (default) is retransmitted per RFC 7252 4.2; NON is sent once. */
  confirmable?: boolean;
  /** A token of your own (1-8 bytes); by default a fresh random 4-byte one. */
  token?: Buffer;
  /** 0 registers an observation (notifications go to `onNotification`), 1 deregisters. */
  observe?: 0 | 1;
  /** Notifications of the observation this request registers, in freshness order (RFC 7641 3.4). */
  onNotification?: (n: CoapResponse) => void;
  /** How long to wait for a response once the request is acknowledged (default MAX_TRANSMIT_WAIT, 93 s). */
  timeoutMs?: number;
  /** The peer sent an empty ACK: the response will come separately (EMQX's LwM2M `ack` message). */
  onAck?: () => void;
}

interface Exchange {
  method: string;
  peer: Peer;
  token: Buffer;
  key: string;
  base: CoapOption[];
  resolve(r: CoapResponse): void;
  reject(e: Error): void;
  timer?: unknown;
  stopTx?: () => void;
  observe?: ClientRequest['onNotification'];
  timeoutMs: number;
  confirmable: boolean;
  onAck?: () => void;
  /** Block2 read in progress: what has arrived so far and the ETag it must keep. */
  body?: Buffer[];
  bodyLength?: number;
  etag?: Buffer;
  first?: CoapResponse;
  /** Block1 upload: the whole payload and the block being sent. */
  upload?: { payload: Buffer; num: number; szx: number };
}

interface Observation {
  peer: Peer;
  token: Buffer;
  base: CoapOption[];
  onNotification: (n: CoapResponse) => void;
  last?: { value: number; at: number };
}

const FRESHNESS_WINDOW_MS = 128_000;

/** RFC 7641 3.4: whether Observe value v2 (received at t2) is fresher than v1 (received at t1). */
export function fresher(v1: number, t1: number, v2: number, t2: number): boolean {
  return (v1 < v2 && v2 - v1 < 2 ** 23) || (v1 > v2 && v1 - v2 > 2 ** 23) || t2 > t1 + FRESHNESS_WINDOW_MS;
}

export class ClientRole {
  private readonly exchanges = new Map<string, Exchange>();
  private readonly observations = new Map<string, Observation>();
  /** CON responses already taken (peer + message id): a duplicate is ACKed again, not delivered again. */
  private readonly taken: LruMap<string, true>;

  constructor(private readonly link: Link, private readonly opts: { maxBody: number; dedupEntries: number }) {
    this.taken = new LruMap(opts.dedupEntries, 247_000, undefined, () => link.clock.now());
  }

  stats(): { pendingRequests: number; observations: number } {
    return { pendingRequests: this.exchanges.size, observations: this.observations.size };
  }

  request(peer: Peer, r: ClientRequest): Promise<CoapResponse> {
    const token = r.token ?? this.freshToken(peer);
    if (token.length > 8) return Promise.reject(new CoapExchangeError(`token of ${token.length} bytes (at most 8)`));
    const key = `${peerKey(peer)}|${token.toString('hex')}`;
    if (this.exchanges.has(key)) return Promise.reject(new CoapExchangeError(`a request with token ${token.toString('hex')} to ${peerKey(peer)} is already in progress`));
    const base = baseOptions(r);
    const payload = typeof r.payload === 'string' ? Buffer.from(r.payload) : (r.payload ?? Buffer.alloc(0));
    return new Promise<CoapResponse>((resolve, reject) => {
      const ex: Exchange = { method: r.method, peer, token, key, base, resolve, reject, observe: r.observe === 0 ? r.onNotification : undefined, timeoutMs: r.timeoutMs ?? MAX_TRANSMIT_WAIT_MS, confirmable: r.confirmable ?? true, onAck: r.onAck };
      this.exchanges.set(key, ex);
      if (payload.length > blockSize(this.link.szx)) {
        ex.upload = { payload, num: 0, szx: this.link.szx };
        this.sendUploadBlock(ex, r.method);
      } else {
        this.transmit(ex, r.method, base, payload);
      }
    });
  }

  /** Forgets an observation: its next notification is answered with RST, which ends it at the server (RFC 7641 3.6). */
  forget(peer: Peer, token: Buffer): boolean {
    return this.observations.delete(`${peerKey(peer)}|${token.toString('hex')}`);
  }

  close(): void {
    for (const ex of [...this.exchanges.values()]) this.fail(ex, new CoapExchangeError('CoAP endpoint closed'));
    this.observations.clear();
    this.taken.clear();
  }

  /** A separate response or notification (CON/NON); false when it belongs to no exchange or observation. */
  receive(p: ParsedPacket, peer: Peer): boolean {
    const taken = `${peerKey(peer)}|${p.messageId}`;
    if (p.confirmable && this.taken.peek(taken)) {
      this.link.send(emptyAckFor(p.messageId), peer); // our ACK was lost: acknowledged again, delivered once
      return true;
    }
    const key = `${peerKey(peer)}|${p.token.toString('hex')}`;
    const ex = this.exchanges.get(key);
    const obs = ex ? undefined : this.observations.get(key);
    if (!ex && !obs) return false;
    if (p.confirmable) {
      this.link.send(emptyAckFor(p.messageId), peer);
      this.taken.set(taken, true);
    }
    if (ex) this.onResponse(ex, p);
    else if (obs) this.onNotification(obs, p);
    return true;
  }

  private freshToken(peer: Peer): Buffer {
    for (;;) {
      const t = randomBytes(4);
      const k = `${peerKey(peer)}|${t.toString('hex')}`;
      if (!this.exchanges.has(k) && !this.observations.has(k)) return t;
    }
  }

  private transmit(ex: Exchange, method: string, options: CoapOption[], payload: Buffer): void {
    const messageId = this.link.messageId();
    let buf: Buffer;
    try {
      buf = generate({ code: method, messageId, token: ex.token, confirmable: ex.confirmable, options: options.map((o) => ({ ...o })) as never, payload }, this.link.maxMessageSize);
    } catch (err) {
      return this.fail(ex, new CoapExchangeError(`request could not be encoded: ${(err as Error).message}`));
    }
    if (!ex.confirmable) {
      this.link.send(buf, ex.peer);
      this.wait(ex);
      return;
    }
    const tx = this.link.sendConfirmable(buf, messageId, ex.peer, {
      ack: (p) => {
        if (p.code !== '0.00') return this.onResponse(ex, p);
        this.wait(ex);
        ex.onAck?.();
      },
      reset: () => this.fail(ex, new CoapResetError(`${method} to ${peerKey(ex.peer)} was answered with a Reset`)),
      timeout: (sent) => this.fail(ex, new CoapTimeoutError(`${method} to ${peerKey(ex.peer)}: no acknowledgement after ${sent} transmissions`, sent)),
    });
    ex.stopTx = () => tx.stop();
  }

  /** Acknowledged (or NON sent): the response may take up to the request's timeout. */
  private wait(ex: Exchange): void {
    this.link.clock.clearTimeout(ex.timer);
    ex.timer = this.link.clock.setTimeout(() => this.fail(ex, new CoapTimeoutError(`no response from ${peerKey(ex.peer)} within ${ex.timeoutMs} ms`, 1)), ex.timeoutMs);
  }

  private onResponse(ex: Exchange, p: ParsedPacket): void {
    this.link.clock.clearTimeout(ex.timer);
    ex.stopTx?.();
    if (ex.upload && this.continueUpload(ex, p)) return;
    const b2 = optionValue(p.options, 'Block2');
    if (b2 && p.code.startsWith('2.')) return this.onBlock2(ex, p, b2);
    this.finish(ex, toResponse(p, ex.peer));
  }

  private finish(ex: Exchange, res: CoapResponse): void {
    this.exchanges.delete(ex.key);
    const first = ex.first ?? res;
    if (ex.observe && first.observe !== undefined && res.code.startsWith('2.')) {
      this.observations.set(ex.key, { peer: ex.peer, token: ex.token, base: ex.base, onNotification: ex.observe, last: { value: first.observe, at: this.link.clock.now() } });
    }
    ex.resolve(ex.first ? { ...first, payload: res.payload, option: first.option } : res);
  }

  private fail(ex: Exchange, err: Error): void {
    this.link.clock.clearTimeout(ex.timer);
    ex.stopTx?.();
    if (this.exchanges.get(ex.key) === ex) this.exchanges.delete(ex.key);
    ex.reject(err);
  }

  /** Block2 read: ask for the next block with the same token until the last one (RFC 7959 2.4). */
  private onBlock2(ex: Exchange, p: ParsedPacket, raw: Buffer): void {
    const block = decodeBlock(raw);
    if (typeof block === 'string') return this.fail(ex, new CoapExchangeError(`bad Block2 in response: ${block}`));
    const etag = optionValue(p.options, 'ETag');
    const from = readBlockNum(ex.base);
    if (block.num === from && !ex.body) {
      ex.first = toResponse(p, ex.peer);
      ex.body = [];
      ex.bodyLength = 0;
      ex.etag = etag;
    } else if (!ex.body || (ex.etag && etag && !ex.etag.equals(etag))) {
      return this.fail(ex, new CoapExchangeError('the resource changed during a block-wise read (ETag differs)'));
    }
    const expected = from + (ex.bodyLength ?? 0) / blockSize(block.szx);
    if (block.num !== expected) return this.fail(ex, new CoapExchangeError(`Block2 ${block.num} arrived, expected ${expected}`));
    ex.body!.push(p.payload);
    ex.bodyLength! += p.payload.length;
    if (ex.bodyLength! > this.opts.maxBody) return this.fail(ex, new CoapExchangeError(`response body larger than ${this.opts.maxBody} bytes`));
    if (!block.more) return this.finish(ex, { ...toResponse(p, ex.peer), payload: Buffer.concat(ex.body!, ex.bodyLength) });
    this.exchanges.set(ex.key, ex);
    const next: Block = { num: block.num + 1, more: false, szx: block.szx };
    const options = ex.base.filter((o) => o.name !== 'Observe' && o.name !== 'Block2');
    options.push({ name: 'Block2', value: encodeBlock(next) });
    this.transmit(ex, 'GET', options, Buffer.alloc(0));
  }

  /** Block1 upload: the next block after each 2.31 Continue; the final response ends the exchange. */
  private sendUploadBlock(ex: Exchange, method: string): void {
    const u = ex.upload!;
    const part = sliceBlock(u.payload, u.num, u.szx)!;
    const options = [...ex.base, { name: 'Block1', value: encodeBlock({ num: u.num, more: part.more, szx: u.szx }) }];
    if (u.num === 0) options.push({ name: 'Size1', value: uintOption(u.payload.length) });
    this.transmit(ex, method, options, part.data);
  }

  /** True when the response asked for the next upload block and it was sent. */
  private continueUpload(ex: Exchange, p: ParsedPacket): boolean {
    const u = ex.upload!;
    if (p.code !== '2.31') return false;
    const raw = optionValue(p.options, 'Block1');
    const b = raw ? decodeBlock(raw) : undefined;
    if (!b || typeof b === 'string') {
      this.fail(ex, new CoapExchangeError('2.31 Continue without a valid Block1 option'));
      return true;
    }
    // The server may ask for smaller blocks (RFC 7959 2.5): continue at the same byte offset.
    const offset = (u.num + 1) * blockSize(u.szx);
    u.szx = Math.min(u.szx, b.szx);
    u.num = offset / blockSize(u.szx);
    if (offset >= u.payload.length) {
      this.fail(ex, new CoapExchangeError('2.31 Continue after the last block'));
      return true;
    }
    this.sendUploadBlock(ex, ex.method);
    return true;
  }

  private onNotification(obs: Observation, p: ParsedPacket): void {
    const value = readUint(optionValue(p.options, 'Observe'));
    const now = this.link.clock.now();
    if (!p.code.startsWith('2.')) {
      // An error response ends the observation (RFC 7641 3.2).
      this.observations.delete(`${peerKey(obs.peer)}|${obs.token.toString('hex')}`);
      return obs.onNotification(toResponse(p, obs.peer));
    }
    if (value !== undefined && obs.last && !fresher(obs.last.value, obs.last.at, value, now)) return; // reordered: older than what we have
    if (value !== undefined) obs.last = { value, at: now };
    const b2 = optionValue(p.options, 'Block2');
    const block = b2 ? decodeBlock(b2) : undefined;
    if (!block || typeof block === 'string' || !block.more) return obs.onNotification(toResponse(p, obs.peer));
    // A large notification: its first block came; GET the rest without Observe (RFC 7959 3.4).
    const first = toResponse(p, obs.peer);
    const rest = obs.base.filter((o) => o.name !== 'Observe');
    void this.request(obs.peer, { method: 'GET', options: [...rest, { name: 'Block2', value: encodeBlock({ num: 1, more: false, szx: block.szx }) }] }).then(
      (r) => obs.onNotification({ ...first, payload: Buffer.concat([p.payload, r.payload]) }),
      () => obs.onNotification(first),
    );
  }
}

/** The block a request starts its Block2 read at (0 unless it asked for a later one). */
function readBlockNum(options: CoapOption[]): number {
  const raw = optionValue(options, 'Block2');
  const b = raw ? decodeBlock(raw) : undefined;
  return b && typeof b !== 'string' ? b.num : 0;
}

function baseOptions(r: ClientRequest): CoapOption[] {
  const out: CoapOption[] = [];
  const path = typeof r.path === 'string' ? r.path.split('/').filter((s) => s !== '') : (r.path ?? []);
  for (const s of path) out.push({ name: 'Uri-Path', value: Buffer.from(s) });
  for (const q of r.query ?? []) out.push({ name: 'Uri-Query', value: Buffer.from(q) });
  if (r.observe !== undefined) out.push({ name: 'Observe', value: uintOption(r.observe) });
  return [...out, ...(r.options ?? [])];
}
