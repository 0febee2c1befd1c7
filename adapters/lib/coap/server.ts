// The server role: de-duplication of requests (RFC 7252 4.5), piggy-backed or separate responses
// (5.2), Block1 reassembly of uploads and Block2 slicing of large responses (RFC 7959).
import { generate, type ParsedPacket } from 'coap-packet';
import { Block1Assembler, decodeBlock, encodeBlock, etagOf, sliceBlock, blockSize, type Block, type Block1Limits } from './block.ts';
import { LruMap } from './bounded.ts';
import type { Link } from './link.ts';
import { optionValue, toRequest, type CoapOption, type CoapReply, type CoapRequest } from './message.ts';
import { EXCHANGE_LIFETIME_MS, NON_LIFETIME_MS } from './transmit.ts';
import { peerKey, type Peer } from './transport.ts';
import { emptyAckFor, readUint, uintOption } from './wire.ts';

export type Respond = (reply: CoapReply) => void;

/** Handles a request; must call `respond` exactly once (later calls are ignored). */
export type RequestHandler = (req: CoapRequest, respond: Respond) => void;

export interface ServerOptions {
  /** A response slower than this goes as an empty ACK first, then separately (RFC 7252 5.2.2). */
  piggybackMs: number;
  /** Requests remembered for de-duplication, counted in exchanges (each a few hundred bytes). */
  dedupEntries: number;
  /** Block1 reassembly limits, or false to answer block-wise uploads 4.02. */
  block1: Block1Limits | false;
  /** One reassembly state shared by several endpoints (so `maxBuffered` holds across transports). */
  assembler?: Block1Assembler;
  /**
   * Sees each new (non-duplicate) request before reassembly and the handler: undefined lets it
   * through, a reply answers it (rate limit), 'drop' ignores it.
   */
  gate?: (req: CoapRequest) => CoapReply | 'drop' | undefined;
  handler?: RequestHandler;
}

export const DEFAULT_BLOCK1: Block1Limits = { maxBody: 256 * 1024, maxBuffered: 4 * 1024 * 1024, maxPerPeer: 4, maxTransfers: 1024, timeoutMs: 60_000 };

/** One request seen: enough to answer its retransmissions without running it again. */
interface Seen {
  token: Buffer;
  /** 0 being handled, 1 empty ACK sent (the response goes or went separately), 2 answered. */
  state: 0 | 1 | 2;
  /** The piggy-backed response, sent again to a retransmission. */
  reply?: Buffer;
}

export class ServerRole {
  handler?: RequestHandler;
  gate?: ServerOptions['gate'];
  private readonly opts: ServerOptions;
  private readonly seen: LruMap<string, Seen>;
  readonly assembler?: Block1Assembler;

  constructor(private readonly link: Link, opts: Partial<ServerOptions>, private readonly onError: (err: Error, peer: Peer) => void) {
    this.opts = { piggybackMs: opts.piggybackMs ?? 500, dedupEntries: opts.dedupEntries ?? 20_000, block1: opts.block1 ?? DEFAULT_BLOCK1 };
    this.handler = opts.handler;
    this.gate = opts.gate;
    this.seen = new LruMap(this.opts.dedupEntries, EXCHANGE_LIFETIME_MS, undefined, () => link.clock.now());
    if (this.opts.block1) this.assembler = opts.assembler ?? new Block1Assembler(this.opts.block1, () => link.clock.now());
  }

  stats(): { dedup: number; block1Uploads: number; block1Bytes: number } {
    return { dedup: this.seen.size, block1Uploads: this.assembler?.openTransfers ?? 0, block1Bytes: this.assembler?.bufferedBytes ?? 0 };
  }

  /** Drops expired de-duplication entries and idle uploads; call from a periodic timer. */
  prune(): void {
    this.seen.prune();
    this.assembler?.prune();
  }

  close(): void {
    this.seen.clear();
  }

  receive(p: ParsedPacket, peer: Peer): void {
    const key = `${peerKey(peer)}|${p.messageId}`;
    const prior = this.seen.peek(key);
    if (prior && prior.token.equals(p.token)) {
      // A retransmission (or a duplicated NON): answered from memory, never handled twice.
      if (prior.reply) this.link.send(prior.reply, peer);
      else if (prior.state === 1) this.link.send(emptyAckFor(p.messageId), peer);
      return;
    }
    const seen: Seen = { token: p.token, state: 0 };
    this.seen.set(key, seen, p.confirmable ? EXCHANGE_LIFETIME_MS : NON_LIFETIME_MS);
    const block2 = decodeOptional(optionValue(p.options, 'Block2'));
    if (typeof block2 === 'string') return this.answer(p, peer, seen, undefined, { code: '4.02', payload: block2 });
    let req = toRequest(p, peer, this.link.id, p.payload, block2);
    const gated = this.gate?.(req);
    if (gated === 'drop') return;
    if (gated) return this.answer(p, peer, seen, undefined, gated);
    let echo: Buffer | undefined;
    const b1 = optionValue(p.options, 'Block1');
    if (b1) {
      const r = this.reassemble(p, peer, b1);
      if ('code' in r) return this.answer(p, peer, seen, undefined, r);
      req = toRequest(p, peer, this.link.id, r.body, block2);
      echo = r.echo;
    }
    this.dispatch(req, p, peer, seen, echo);
  }

  private dispatch(req: CoapRequest, p: ParsedPacket, peer: Peer, seen: Seen, echo: Buffer | undefined): void {
    let timer: unknown;
    let done = false;
    const respond: Respond = (reply) => {
      if (done) return;
      done = true;
      this.link.clock.clearTimeout(timer);
      this.answer(p, peer, seen, echo, reply, req.block2);
    };
    if (p.confirmable) {
      timer = this.link.clock.setTimeout(() => {
        if (done || seen.state !== 0) return;
        seen.state = 1;
        this.link.send(emptyAckFor(p.messageId), peer);
      }, this.opts.piggybackMs);
    }
    const handler = this.handler;
    if (!handler) return respond({ code: '4.04' });
    try {
      handler(req, respond);
    } catch (err) {
      this.onError(err as Error, peer);
      respond({ code: '5.00' });
    }
  }

  private reassemble(p: ParsedPacket, peer: Peer, raw: Buffer): { body: Buffer; echo?: Buffer } | CoapReply {
    if (!this.assembler || !this.opts.block1) return { code: '4.02', payload: 'block-wise transfer is disabled' };
    const block = decodeBlock(raw);
    if (typeof block === 'string') return { code: '4.02', payload: block };
    const path = p.options.filter((o) => o.name === 'Uri-Path').map((o) => o.value.toString('hex')).join('/');
    const tag = optionValue(p.options, 292)?.toString('hex') ?? '';
    // Keyed by peer + path + Request-Tag, not by token: libcoap 4.3 uses a new token per block.
    const r = this.assembler.accept(peerKey(peer), `${peerKey(peer)}|${path}|${tag}`, block, p.payload, readUint(optionValue(p.options, 'Size1')));
    switch (r.kind) {
      case 'continue':
        return { code: '2.31', options: [{ name: 'Block1', value: encodeBlock({ num: block.num, more: true, szx: block.szx }) }] };
      case 'complete':
        return { body: r.body, echo: block.num > 0 || block.more ? encodeBlock({ num: block.num, more: false, szx: block.szx }) : undefined };
      case 'error':
        return { code: r.code, payload: r.message, options: r.code === '4.13' ? [{ name: 'Size1', value: uintOption(this.opts.block1.maxBody) }] : [] };
    }
  }

  /** Sends a reply: in the ACK while it is still due, else as a separate CON (or NON to a NON). */
  private answer(p: ParsedPacket, peer: Peer, seen: Seen, echo: Buffer | undefined, reply: CoapReply, block2?: Block): void {
    let options: CoapOption[] = reply.options ? [...reply.options] : [];
    let payload = typeof reply.payload === 'string' ? Buffer.from(reply.payload) : (reply.payload ?? Buffer.alloc(0));
    if (echo && !options.some((o) => o.name === 'Block1')) options.push({ name: 'Block1', value: echo });
    const sliced = this.slice(payload, block2, options);
    if ('code' in sliced) {
      options = [];
      payload = Buffer.from(sliced.payload as string);
      reply = sliced;
    } else {
      options = sliced.options;
      payload = sliced.payload;
    }
    const piggy = p.confirmable && seen.state === 0;
    const separateCon = p.confirmable && !piggy;
    const messageId = piggy ? p.messageId : this.link.messageId();
    let buf: Buffer;
    try {
      buf = generate({ code: reply.code, messageId, token: p.token, ack: piggy, confirmable: separateCon, reset: false, options: options as never, payload }, this.link.maxMessageSize);
    } catch (err) {
      this.onError(new Error(`CoAP ${reply.code} response could not be encoded: ${(err as Error).message}`), peer);
      buf = generate({ code: '5.00', messageId, token: p.token, ack: piggy, confirmable: separateCon, reset: false, options: [], payload: Buffer.alloc(0) });
    }
    if (piggy) {
      seen.state = 2;
      seen.reply = buf;
      this.link.send(buf, peer);
    } else if (separateCon) {
      // Retransmitted until the client's ACK; the request's retransmissions keep getting the empty ACK.
      this.link.sendConfirmable(buf, messageId, peer, { ack: () => {}, reset: () => {}, timeout: () => {} });
    } else {
      seen.state = 2;
      this.link.send(buf, peer);
    }
  }

  /** Block2: the requested block of a payload larger than one block (RFC 7959 2.2), with ETag and Size2. */
  private slice(payload: Buffer, wanted: Block | undefined, options: CoapOption[]): { payload: Buffer; options: CoapOption[] } | CoapReply {
    const szx = Math.min(this.link.szx, wanted?.szx ?? 6);
    if (payload.length <= blockSize(szx) && !wanted?.num) return { payload, options };
    const num = wanted?.num ?? 0;
    const part = sliceBlock(payload, num, szx);
    if (!part) return { code: '4.02', payload: `block ${num} is past the end (${payload.length} bytes)` };
    const out = options.filter((o) => o.name !== 'Block2');
    if (!out.some((o) => o.name === 'ETag')) out.push({ name: 'ETag', value: etagOf(payload) });
    out.push({ name: 'Block2', value: encodeBlock({ num, more: part.more, szx }) });
    if (num === 0) out.push({ name: 'Size2', value: uintOption(payload.length) });
    return { payload: part.data, options: out };
  }
}

function decodeOptional(v: Buffer | undefined): Block | string | undefined {
  return v === undefined ? undefined : decodeBlock(v);
}
