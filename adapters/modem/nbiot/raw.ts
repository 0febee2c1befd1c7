import { isIP } from 'node:net';
import type { AdapterContext, DeliveredMessage, DeviceIdentity, Subscription } from '../../../gateway/core/adapter.ts';
import { ipPort } from '../../../gateway/core/identity.ts';
import { Throttle } from '../throttle.ts';
import { canonicalIp, type Datagram } from './driver.ts';

/** Source ports remembered per device address, so a downlink can omit the port (bounded, oldest first out). */
const MAX_PEERS = 10_000;

/**
 * `nbiot.protocol: raw`: every datagram is published on nbiot/{modem}/{address}/up as JSON
 * {"payload": "<hex>", "address", "port", "ts", "modem"}; a message on nbiot/{modem}/{address}/dn
 * ({"payload": "<hex>", "port"?} or raw bytes) is sent back to that device.
 */
export class RawDatagrams {
  private sub: Subscription | undefined;
  private readonly ports = new Map<string, number>();
  private readonly limited: Throttle;

  constructor(
    private readonly modem: string,
    private readonly ctx: AdapterContext,
    private readonly dropped: () => void,
    private readonly send: (d: Datagram) => Promise<void>,
  ) {
    this.limited = new Throttle((f, m) => ctx.log.warn(f, m));
  }

  async start(): Promise<void> {
    this.sub = await this.ctx.messages.subscribe(`nbiot/${this.modem}/+/dn`, (m) => this.onDownlink(m));
  }

  async stop(): Promise<void> {
    await this.sub?.unsubscribe();
    this.sub = undefined;
    this.limited.clear();
  }

  datagram(d: Datagram): void {
    this.ports.delete(d.address);
    this.ports.set(d.address, d.port);
    if (this.ports.size > MAX_PEERS) this.ports.delete(this.ports.keys().next().value as string);
    const body = { payload: d.payload.toString('hex'), address: d.address, port: d.port, ts: Date.now(), modem: this.modem };
    const device: DeviceIdentity = { protocol: 'nbiot', transport: 'udp', id: d.address, address: ipPort(d.address, d.port), via: this.modem };
    this.ctx.messages.publish({ topic: `nbiot/${this.modem}/${d.address}/up`, payload: JSON.stringify(body), qos: 1, device }).catch((err: Error) => {
      this.dropped();
      this.warn(`up:${err.message}`, { from: device.address, err: err.message }, `modem ${this.modem}: datagram from ${device.address} not published: ${err.message}`);
    });
  }

  private warn(key: string, fields: Record<string, unknown>, msg: string): void {
    this.limited.warn(key, { modem: this.modem, ...fields }, msg);
  }

  private onDownlink(m: DeliveredMessage): void {
    // The spelling datagrams are published under (and ports remembered by), whatever the topic used.
    const address = canonicalIp(m.topic.split('/')[2] ?? '');
    const req = parseRawDownlink(m.payload);
    const port = req.port ?? this.ports.get(address);
    const refuse = isIP(address) === 0 ? `"${address}" is not an IP address` : 'error' in req ? req.error : port === undefined ? `no port given and nothing heard from ${address} yet: add "port" to the message` : undefined;
    if (refuse !== undefined || !req.payload || port === undefined) {
      this.warn(`dn:${refuse ?? ''}`, { topic: m.topic }, `modem ${this.modem}: downlink on ${m.topic} refused: ${refuse ?? 'empty'}`);
      return;
    }
    // The runtime logs refusals and failures itself (one rate-limited line each).
    this.send({ address, port, payload: req.payload }).catch(() => undefined);
  }
}

/** `{"payload": "<hex>", "port"?: n}` or the bytes themselves. */
export function parseRawDownlink(b: Buffer): { payload?: Buffer; port?: number; error?: string } {
  const text = b.toString('utf8').trim();
  if (!text.startsWith('{')) return b.length > 0 ? { payload: b } : { error: 'empty message' };
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch {
    return { payload: b };
  }
  const o = j as { payload?: unknown; port?: unknown };
  if (typeof o.payload !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(o.payload)) return { error: '"payload" must be hex bytes, e.g. {"payload": "0a0b"}' };
  if (o.port !== undefined && !(Number.isInteger(o.port) && (o.port as number) > 0 && (o.port as number) < 65536)) return { error: '"port" must be 1-65535' };
  return { payload: Buffer.from(o.payload, 'hex'), ...(o.port !== undefined ? { port: o.port as number } : {}) };
}
