// A simulated LwM2M 1.1 client over raw UDP + coap-packet: registers, updates, de-registers, and
// answers the server's Read/Discover/Write/Write-Attributes/Execute/Create/Delete/Observe with
// text/plain, opaque, TLV, SenML JSON or SenML CBOR (when asked with Accept), Block2 for large values, and notifications. Written from
// the LwM2M and CoAP specs, independent of the gateway's code. Test knobs: `behaviour` makes it
// go silent, answer RST, answer separately, or answer with broken TLV.
import { createSocket, type Socket } from 'node:dgram';
import { EventEmitter } from 'node:events';
import { generate, parse, type ParsedPacket } from 'coap-packet';
import { content as readContent, discover } from './content.ts';
import { CREATABLE, decodeValue, defaultObjects, type Instance, type ObjectStore } from './objects.ts';
import { readTlv, type SimValue } from './tlv.ts';

export interface SimOptions {
  host: string;
  port: number;
  ep: string;
  lifetime?: number;
  binding?: string;
  /** Extra register query parameters (imei, password, ...). */
  query?: Record<string, string>;
  /** Prefix for object links and the paths it serves (`rt="oma.lwm2m"`), e.g. "/lwm2m". */
  altPath?: string;
  /** Notifications as CON (acknowledged) instead of NON. */
  conNotify?: boolean;
  /** Source address to bind (tests and benchmarks use 127.0.0.x to be many hosts). */
  localAddress?: string;
}

export type Behaviour = 'normal' | 'silent' | 'reset' | 'separate' | 'garbage';

export interface Received {
  method: string;
  path: string;
  query: string[];
  payload: Buffer;
  observe?: number;
  format?: number;
  accept?: number;
}

interface Observer {
  path: number[];
  token: Buffer;
  peer: { address: string; port: number };
  seq: number;
  accept?: number;
}

const CODE = { GET: '0.01', POST: '0.02', PUT: '0.03', DELETE: '0.04' } as const;
const METHODS: Record<string, string> = { '0.01': 'GET', '0.02': 'POST', '0.03': 'PUT', '0.04': 'DELETE' };

const uintBuf = (n: number): Buffer => {
  const out: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) out.unshift(v & 0xff);
  return Buffer.from(out);
};
const uintOf = (b?: Buffer): number | undefined => (b ? [...b].reduce((v, x) => v * 256 + x, 0) : undefined);

export class SimDevice extends EventEmitter {
  socket!: Socket;
  readonly objects: ObjectStore;
  readonly received: Received[] = [];
  readonly executed: { path: string; args: string }[] = [];
  readonly attributes = new Map<string, Record<string, string>>();
  behaviour: Behaviour = 'normal';
  location?: string[];
  private mid = Math.floor(Math.random() * 0xffff);
  private readonly waiting = new Map<string, (p: ParsedPacket) => void>();
  private readonly observers = new Map<string, Observer>();
  private readonly answered = new Map<number, Buffer>();

  private constructor(readonly opts: SimOptions) {
    super();
    this.objects = defaultObjects(opts.ep, opts.lifetime ?? 300, opts.binding ?? 'U');
  }

  static async create(opts: SimOptions): Promise<SimDevice> {
    const d = new SimDevice(opts);
    await d.openSocket();
    return d;
  }

  get observerCount(): number {
    return this.observers.size;
  }

  private openSocket(): Promise<void> {
    this.socket = createSocket(this.opts.host.includes(':') ? 'udp6' : 'udp4');
    this.socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    this.socket.on('error', () => {});
    return new Promise((resolve) => this.socket.bind(0, this.opts.localAddress, resolve));
  }

  /** A new source port, as after NAT rebinding; observations stay (the device does not know). */
  async rebind(): Promise<void> {
    this.socket.close();
    await this.openSocket();
  }

  close(): void {
    try {
      this.socket.close();
    } catch {
      // closed
    }
  }

  private links(): string {
    const alt = this.opts.altPath ?? '';
    const list: string[] = [];
    if (alt) list.push(`<${alt}>;rt="oma.lwm2m";ct=11543`);
    for (const [o, insts] of this.objects) for (const i of insts.keys()) list.push(`<${alt}/${o}/${i}>`);
    return list.join(',');
  }

  async register(extra: Record<string, string> = {}): Promise<string> {
    const q = { ep: this.opts.ep, lt: String(this.opts.lifetime ?? 300), lwm2m: '1.1', b: this.opts.binding ?? 'U', ...this.opts.query, ...extra };
    const res = await this.request('POST', ['rd'], Object.entries(q).map(([k, v]) => (v === '' ? k : `${k}=${v}`)), Buffer.from(this.links()), 40);
    if (res.code !== '2.01') throw new Error(`register answered ${res.code}: ${res.payload.toString()}`);
    this.location = res.options.filter((o) => o.name === 'Location-Path').map((o) => o.value.toString());
    return res.code;
  }

  async update(query: string[] = [], withLinks = false): Promise<string> {
    if (!this.location) throw new Error('not registered');
    const res = await this.request('POST', this.location, query, withLinks ? Buffer.from(this.links()) : Buffer.alloc(0), withLinks ? 40 : undefined);
    return res.code;
  }

  async deregister(): Promise<string> {
    if (!this.location) throw new Error('not registered');
    const res = await this.request('DELETE', this.location, [], Buffer.alloc(0));
    this.observers.clear();
    return res.code;
  }

  /** A raw request to the server (tests send malformed registrations with it). */
  async request(method: keyof typeof CODE, path: string[], query: string[], payload: Buffer, format?: number): Promise<ParsedPacket> {
    const messageId = this.nextMid();
    const token = Buffer.from([Math.random() * 256, Math.random() * 256, Math.random() * 256, Math.random() * 256].map(Math.floor));
    const options = [...path.map((p) => ({ name: 'Uri-Path', value: Buffer.from(p) })), ...(format !== undefined ? [{ name: 'Content-Format', value: uintBuf(format) }] : []), ...query.map((q) => ({ name: 'Uri-Query', value: Buffer.from(q) }))];
    const buf = generate({ code: CODE[method], messageId, token, confirmable: true, options: options as never, payload });
    return new Promise((resolve, reject) => {
      let tries = 0;
      const send = () => {
        if (tries++ >= 4) {
          this.waiting.delete(token.toString('hex'));
          return reject(new Error(`no answer to ${method} /${path.join('/')}`));
        }
        this.socket.send(buf, this.opts.port, this.opts.host);
        timer = setTimeout(send, 1000 * 2 ** (tries - 1));
      };
      let timer: NodeJS.Timeout;
      this.waiting.set(token.toString('hex'), (p) => {
        clearTimeout(timer);
        this.waiting.delete(token.toString('hex'));
        resolve(p);
      });
      send();
    });
  }

  private nextMid(): number {
    this.mid = (this.mid + 1) & 0xffff;
    return this.mid;
  }

  private onMessage(msg: Buffer, rinfo: { address: string; port: number }): void {
    let p: ParsedPacket;
    try {
      p = parse(msg);
    } catch {
      return;
    }
    if (p.code === '0.00') return; // ACK of a CON notification, or RST
    if (!(p.code in METHODS)) {
      // A response to one of our requests (piggy-backed or separate).
      if (p.confirmable) this.socket.send(generate({ code: '0.00', messageId: p.messageId, ack: true, token: Buffer.alloc(0) }), rinfo.port, rinfo.address);
      this.waiting.get(p.token.toString('hex'))?.(p);
      return;
    }
    this.onRequest(p, rinfo);
  }

  private onRequest(p: ParsedPacket, peer: { address: string; port: number }): void {
    const again = this.answered.get(p.messageId);
    if (again) return void this.socket.send(again, peer.port, peer.address);
    const opt = (n: string) => p.options.filter((o) => String(o.name) === n).map((o) => o.value);
    const alt = (this.opts.altPath ?? '').split('/').filter((s) => s);
    const segs = opt('Uri-Path').map((v) => v.toString()).slice(alt.length);
    const rec: Received = { method: METHODS[p.code]!, path: `/${segs.join('/')}`, query: opt('Uri-Query').map((v) => v.toString()), payload: p.payload, observe: uintOf(opt('Observe')[0]), format: uintOf(opt('Content-Format')[0]), accept: uintOf(opt('Accept')[0]) };
    if (opt('Block2')[0] === undefined || (uintOf(opt('Block2')[0])! >> 4) === 0) {
      this.received.push(rec);
      this.emit('request', rec);
    }
    if (this.behaviour === 'silent') return;
    if (this.behaviour === 'reset') return void this.socket.send(generate({ code: '0.00', messageId: p.messageId, reset: true, token: Buffer.alloc(0) }), peer.port, peer.address);
    const path = segs.map(Number);
    const reply = this.serve(rec, path, p, peer, uintOf(opt('Accept')[0]));
    let options = reply.options ?? [];
    let payload = reply.payload ?? Buffer.alloc(0);
    const b2 = uintOf(opt('Block2')[0]);
    const szx = b2 !== undefined ? Math.min(b2 & 7, 6) : 6;
    const size = 2 ** (szx + 4);
    if (payload.length > size || (b2 !== undefined && b2 >> 4 > 0)) {
      const num = b2 !== undefined ? b2 >> 4 : 0;
      const more = (num + 1) * size < payload.length ? 1 : 0;
      options = [...options, { name: 'Block2', value: uintBuf((num << 4) | (more << 3) | szx) }];
      payload = payload.subarray(num * size, (num + 1) * size);
    }
    const code = this.behaviour === 'garbage' && reply.code === '2.05' ? '2.05' : reply.code;
    if (this.behaviour === 'garbage' && reply.code === '2.05') {
      options = [{ name: 'Content-Format', value: uintBuf(11542) }];
      payload = Buffer.from([0xc8, 0x00, 0x14, 0x41]);
    }
    if (this.behaviour === 'separate' && p.confirmable) {
      this.socket.send(generate({ code: '0.00', messageId: p.messageId, ack: true, token: Buffer.alloc(0) }), peer.port, peer.address);
      setTimeout(() => this.socket.send(generate({ code, messageId: this.nextMid(), confirmable: true, token: p.token, options: options as never, payload }), peer.port, peer.address), 30);
      return;
    }
    const out = generate({ code, messageId: p.messageId, ack: p.confirmable, confirmable: false, token: p.token, options: options as never, payload });
    if (p.confirmable) {
      this.answered.set(p.messageId, out);
      if (this.answered.size > 64) this.answered.delete(this.answered.keys().next().value!);
    }
    this.socket.send(out, peer.port, peer.address);
  }

  private serve(rec: Received, path: number[], p: ParsedPacket, peer: { address: string; port: number }, accept?: number): { code: string; options?: { name: string; value: Buffer }[]; payload?: Buffer } {
    if (path.some((n) => !Number.isInteger(n))) return { code: '4.04' };
    const [o, i, r] = path;
    const obj = o === undefined ? undefined : this.objects.get(o);
    if (!obj) return { code: '4.04' };
    const inst = i === undefined ? undefined : obj.get(i);
    if (i !== undefined && !inst) return rec.method === 'POST' && path.length === 1 ? { code: '4.04' } : { code: '4.04' };
    const res = r === undefined ? undefined : inst?.get(r);
    if (r !== undefined && !res) return { code: '4.04' };
    switch (rec.method) {
      case 'GET': {
        if (accept === 40) return { code: '2.05', options: [{ name: 'Content-Format', value: uintBuf(40) }], payload: Buffer.from(discover(this.objects, this.attributes, path)) };
        const key = `/${path.join('/')}`;
        if (rec.observe === 0) this.observers.set(key, { path, token: p.token, peer, seq: 1, accept });
        if (rec.observe === 1) this.observers.delete(key);
        const content = readContent(this.objects, path, accept);
        if (!content) return { code: '4.05' };
        const options = [...(rec.observe === 0 ? [{ name: 'Observe', value: uintBuf(1) }] : []), { name: 'Content-Format', value: uintBuf(content.format) }];
        return { code: '2.05', options, payload: content.payload };
      }
      case 'PUT':
        if (rec.payload.length === 0 && rec.query.length > 0) {
          this.attributes.set(`/${path.join('/')}`, Object.fromEntries(rec.query.map((q) => q.split('=') as [string, string])));
          return { code: '2.04' };
        }
        return this.write(path, rec) ? { code: '2.04' } : { code: '4.00' };
      case 'POST':
        if (res) {
          if (res.kind !== 'exec') return { code: '4.05' };
          this.executed.push({ path: `/${path.join('/')}`, args: rec.payload.toString() });
          if (o === 5 && r === 2) this.firmwareUpdate();
          this.emit('execute', `/${path.join('/')}`, rec.payload.toString());
          return { code: '2.04' };
        }
        if (inst) return this.write(path, rec) ? { code: '2.04' } : { code: '4.00' };
        return this.createInstance(o!, rec);
      case 'DELETE':
        if (path.length !== 2 || !inst) return { code: '4.05' };
        obj.delete(i!);
        return { code: '2.02' };
      default:
        return { code: '4.05' };
    }
  }

  private write(path: number[], rec: Received): boolean {
    const [o, i, r] = path;
    const inst = this.objects.get(o!)?.get(i!);
    if (!inst) return false;
    try {
      if (rec.format === 0 || rec.format === 42) {
        const res = inst.get(r!);
        if (!res || r === undefined) return false;
        res.value = decodeValue(res.kind, rec.payload, rec.format === 0);
        this.changed(path);
        if (o === 5 && (r === 0 || r === 1)) this.firmwareDownload(res.value);
        return true;
      }
      for (const el of readTlv(rec.payload)) {
        const res = inst.get(el.id);
        if (!res) return false;
        if (el.type === 2) res.instances = new Map(readTlv(el.value).map((x) => [x.id, decodeValue(res.kind, x.value, false)]));
        else res.value = decodeValue(res.kind, el.value, false);
        this.changed([o!, i!, el.id]);
        if (o === 5 && (el.id === 0 || el.id === 1)) this.firmwareDownload(res.value);
      }
      return true;
    } catch {
      return false;
    }
  }

  private createInstance(o: number, rec: Received): { code: string; options?: { name: string; value: Buffer }[] } {
    const kinds = CREATABLE[o];
    const obj = this.objects.get(o)!;
    if (!kinds) return { code: '4.05' };
    let iid = 0;
    while (obj.has(iid)) iid++;
    let els = rec.payload.length ? readTlv(rec.payload) : [];
    if (els.length === 1 && els[0]!.type === 0) {
      iid = els[0]!.id;
      els = readTlv(els[0]!.value);
    }
    const inst: Instance = new Map();
    for (const [rid, kind] of Object.entries(kinds)) inst.set(Number(rid), { kind, ops: 'R', value: kind === 'string' ? '' : 0 });
    for (const el of els) {
      const kind = kinds[el.id];
      if (!kind) return { code: '4.00' };
      inst.get(el.id)!.value = decodeValue(kind, el.value, false);
    }
    obj.set(iid, inst);
    return { code: '2.01', options: [{ name: 'Location-Path', value: Buffer.from(String(o)) }, { name: 'Location-Path', value: Buffer.from(String(iid)) }] };
  }

  /**
   * Firmware Update (object 5) state machine, LwM2M 1.0 E.6: writing a Package or Package URI
   * downloads it (State 1, then 2 Downloaded); executing Update from Downloaded updates it
   * (State 3, then 0 Idle with Update Result 1 and the new version in /3/0/3). An empty URI resets.
   */
  private firmwareDownload(value: SimValue | undefined): void {
    const empty = value === undefined || (Buffer.isBuffer(value) ? value.length === 0 : String(value) === '');
    this.set('/5/0/5', 0);
    this.set('/5/0/3', empty ? 0 : 1);
    if (!empty) setTimeout(() => this.set('/5/0/3', 2), 50).unref();
  }

  private firmwareUpdate(): void {
    if (this.objects.get(5)?.get(0)?.get(3)?.value !== 2) return;
    this.set('/5/0/3', 3);
    setTimeout(() => {
      const version = `1.0.${Number(String(this.objects.get(3)?.get(0)?.get(3)?.value ?? '1.0.0').split('.')[2] ?? 0) + 1}`;
      this.set('/3/0/3', version);
      this.set('/5/0/7', version);
      this.set('/5/0/5', 1);
      this.set('/5/0/3', 0);
    }, 50).unref();
  }

  /** Sets a value and notifies observers of it (and of its instance or object). */
  set(path: string, value: SimValue): void {
    const [o, i, r] = path.split('/').filter((s) => s).map(Number);
    const res = this.objects.get(o!)?.get(i!)?.get(r!);
    if (!res) throw new Error(`no resource ${path}`);
    res.value = value;
    this.changed([o!, i!, r!]);
  }

  private changed(path: number[]): void {
    for (const obs of this.observers.values()) {
      if (!obs.path.every((seg, k) => path[k] === seg)) continue;
      const content = readContent(this.objects, obs.path, obs.accept);
      if (!content) continue;
      obs.seq = (obs.seq + 1) & 0xffffff;
      const out = generate({ code: '2.05', messageId: this.nextMid(), confirmable: this.opts.conNotify ?? false, token: obs.token, options: [{ name: 'Observe', value: uintBuf(obs.seq) }, { name: 'Content-Format', value: uintBuf(content.format) }] as never, payload: content.payload });
      this.socket.send(out, obs.peer.port, obs.peer.address);
    }
  }
}
