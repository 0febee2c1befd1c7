import type { MessageApi } from '../../../gateway/core/adapter.ts';
import { Presence } from '../../lib/presence.ts';
import type { DeviceIdentity } from '../../../gateway/core/message.ts';
import type { ModemConfig } from '../config.ts';
import type { RxFrame } from '../lora/driver.ts';
import type { DropReason, ModemStats } from '../stats.ts';
import type { Throttle } from '../throttle.ts';
import { CounterStore } from './counters.ts';
import { DecoderSet, type Decoder } from './decoders.ts';
import { micValid, nodeIdHex, parseFrame } from './node-frame.ts';

/** Frames heard but not yet published, per modem. */
const MAX_PENDING = 1000;
/** The counters file is written right after the first accepted frame, then at most this often (an SD card wears). */
const SAVE_EVERY_MS = 2000;

interface KnownNode {
  id: string;
  key: Buffer;
  decoder: Decoder;
}

/**
 * Turns what a modem heard into MQTT messages: `raw` publishes every packet on lora/{modem}/up;
 * `fieldgate` checks the node frame (known node, MIC, fresh counter), decodes the payload and
 * publishes on lora/{nodeId}/up. Every drop is counted and logged (rate-limited per reason).
 */
export class UplinkHandler {
  private readonly nodes = new Map<number, KnownNode>();
  private readonly decoders = new DecoderSet();
  private chain: Promise<void> = Promise.resolve();
  private pending = 0;
  private saveTimer: NodeJS.Timeout | undefined;
  private lastSave = 0;
  readonly counters: CounterStore | undefined;
  /** fieldgate frames: a node is online while heard within presence_timeout (it has no connection to be in). */
  readonly presence: Presence;

  constructor(
    private readonly cfg: ModemConfig,
    private readonly messages: MessageApi,
    private readonly stats: ModemStats,
    private readonly throttle: Throttle,
    private readonly countersFile: string,
  ) {
    for (const n of cfg.nodes) {
      const decoder = this.decoders.get(n.decoder);
      this.nodes.set(parseInt(n.id, 16), { id: n.id, key: Buffer.from(n.key, 'hex'), decoder });
    }
    if (cfg.frames === 'fieldgate') this.counters = new CounterStore(countersFile);
    this.presence = new Presence(
      cfg.presence_timeout,
      (id) => messages.deviceConnected(this.nodeDevice(id), { proto_name: 'LoRa-P2P', proto_ver: cfg.type }),
      (id) => messages.deviceDisconnected(this.nodeDevice(id), 'presence_timeout'),
    );
  }

  /** A node as the registry knows it: no IP, reached through the modem that heard it. */
  nodeDevice(id: string): DeviceIdentity {
    return { protocol: 'lora', transport: 'lora', id, address: this.cfg.name, via: this.cfg.name };
  }

  /** Loads script decoders (a bad file fails the adapter's start with its message). */
  async init(): Promise<void> {
    await this.decoders.load();
    if (this.cfg.frames === 'fieldgate') this.presence.start();
  }

  async close(): Promise<void> {
    this.presence.stop();
    clearTimeout(this.saveTimer);
    this.saveCounters();
    await this.decoders.close();
  }

  /**
   * Accepted counters reach the disk soon: the frames of one burst share a write, the first one after
   * start is written at once, later ones at most every SAVE_EVERY_MS, and at stop.
   */
  private scheduleSave(): void {
    if (!this.counters || this.saveTimer) return;
    const wait = Math.max(0, this.lastSave + SAVE_EVERY_MS - Date.now());
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.lastSave = Date.now();
      this.saveCounters();
    }, wait);
    this.saveTimer.unref();
  }

  private saveCounters(): void {
    try {
      this.counters?.save();
    } catch (err) {
      this.throttle.warn('counters_file', { modem: this.cfg.name, err: (err as Error).message }, `modem ${this.cfg.name}: cannot write the frame counter file ${this.countersFile}: ${(err as Error).message}; replay protection across a restart is weaker until it can`);
    }
  }

  /** Frames are published in the order the modem heard them, even when a decoder takes a while. */
  handle(f: RxFrame): Promise<void> {
    this.stats.framesReceived.inc();
    // Bounded: a broker or disk that stalls must not make frames pile up in memory without limit.
    if (this.pending >= MAX_PENDING) {
      this.drop('backlog', `${this.pending} frames already waiting to be published (the broker or its disk is not keeping up)`);
      return Promise.resolve();
    }
    this.pending++;
    const run = this.chain.then(() => (this.cfg.frames === 'raw' ? this.raw(f) : this.node(f))).finally(() => this.pending--);
    this.chain = run.catch(() => undefined);
    return run;
  }

  private base(f: RxFrame): Record<string, unknown> {
    return { payload: f.payload.toString('hex'), rssi: f.rssi ?? null, snr: f.snr ?? null, ts: Date.now(), modem: this.cfg.name };
  }

  private raw(f: RxFrame): Promise<void> {
    const device: DeviceIdentity = { protocol: 'lora', transport: 'serial', id: this.cfg.name, address: this.cfg.path };
    return this.publish(`lora/${this.cfg.name}/up`, this.base(f), device);
  }

  private async node(f: RxFrame): Promise<void> {
    const parsed = parseFrame(f.payload);
    if (!parsed.ok) return this.drop('malformed', `not a fieldgate frame (${parsed.reason}, ${f.payload.length} bytes)`);
    const fr = parsed.frame;
    const hexId = nodeIdHex(fr.nodeId);
    const node = this.nodes.get(fr.nodeId);
    if (!node) return this.drop('unknown_node', `frame from node ${hexId}, which is not in adapters.modem.modems[${this.cfg.name}].nodes`);
    if (!micValid(node.key, fr)) return this.drop('bad_mic', `frame from node ${hexId} has a wrong MIC (wrong key, or forged)`, hexId);
    const counters = this.counters as CounterStore;
    const verdict = counters.check(fr.nodeId, fr.counter);
    if (verdict !== 'ok') return this.drop(verdict, `node ${hexId} frame counter ${fr.counter} is not above the last accepted ${counters.lastOf(fr.nodeId)}`, hexId);
    counters.accept(fr.nodeId, fr.counter);
    this.scheduleSave();
    this.presence.seen(hexId); // online from its first accepted frame (reported before the publish)
    const result = await node.decoder.decode(fr.payload, fr.port);
    if ('error' in result) {
      this.stats.decodeErrors.inc();
      this.throttle.warn(`decode:${hexId}`, { modem: this.cfg.name, node: hexId, err: result.error }, `modem ${this.cfg.name}: node ${hexId} payload decoder failed; published the raw payload with an error field`);
    }
    const body = { ...this.base(f), payload: fr.payload.toString('hex'), node: hexId, counter: fr.counter, port: fr.port, ...result };
    return this.publish(`lora/${hexId}/up`, body, this.nodeDevice(hexId));
  }

  private async publish(topic: string, body: Record<string, unknown>, device: DeviceIdentity): Promise<void> {
    try {
      await this.messages.publish({ topic, payload: JSON.stringify(body), qos: 1, device });
      this.stats.framesPublished.inc();
    } catch (err) {
      const hint = (err as { reason?: string }).reason === 'not_authorized' ? ' (a LoRa device has no IP address: allow it with an auth.acl rule, see docs/modem.md "Access control")' : '';
      this.drop('publish_failed', `publishing to ${topic} failed: ${(err as Error).message}${hint}`);
    }
  }

  /**
   * An operator's kick of a configured node (`id`: its 8 hex digits): its frame counter is
   * forgotten, so a node reflashed with its counter back at 0 is heard again. False for any other id.
   */
  forgetNode(id: string): boolean {
    const nodeId = parseInt(id, 16);
    if (!this.counters || !/^[0-9a-f]{8}$/.test(id) || !this.nodes.has(nodeId)) return false;
    if (this.counters.forget(nodeId)) this.scheduleSave();
    this.presence.drop(id); // the caller reports it offline; its next frame makes it online again
    return true;
  }

  /** A receive line the driver could not turn into a frame. */
  malformed(what: string): void {
    this.stats.framesReceived.inc();
    this.drop('malformed', what);
  }

  private drop(reason: DropReason, what: string, node?: string): void {
    this.stats.dropped[reason].inc();
    this.throttle.warn(`${reason}:${node ?? ''}`, { modem: this.cfg.name, reason, node }, `modem ${this.cfg.name}: dropped a frame: ${what}`);
  }
}
