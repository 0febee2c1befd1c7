import type { AuthService } from '../auth/service.ts';
import type { Broker, ClientSession } from '../broker/broker.ts';
import type { SysPublisher } from '../broker/sys.ts';
import type { MessageApi, PublishRequest, SessionInfo, Subscription } from '../core/adapter.ts';
import { devicePort, peerAddress } from '../core/identity.ts';
import { PublishRejected, type DeliveredMessage, type DeviceIdentity } from '../core/message.ts';
import { invalidTopicFilter, invalidTopicName } from '../core/topic.ts';
import type { Histogram, Metrics } from '../metrics/metrics.ts';
import type { DeviceRegistry } from '../registry/registry.ts';

export interface MessageApiDeps {
  broker: Broker;
  /** broker.max_packet_size: an adapter's message must fit what an MQTT client could publish. */
  maxPacketSize: number;
  auth: AuthService;
  registry: DeviceRegistry;
  sys: SysPublisher;
  metrics: Metrics;
  /** The adapter this API serves (the label of its publish-latency histogram). */
  adapter?: string;
}

/**
 * The principal auth and bans see for a device. The address comes from the identity's transport
 * (gateway/core/identity.ts), never from guessing at the address text.
 */
function principalOf(d: DeviceIdentity) {
  return { clientid: d.id, username: d.username, ipaddress: peerAddress(d), protocol: d.protocol };
}

/**
 * One adapter's view of the gateway. It tracks the adapter's subscriptions and device sessions so
 * that stopping (or restarting) the adapter releases all of them.
 */
export class AdapterMessageApi implements MessageApi {
  private readonly subscriptions = new Set<() => Promise<void>>();
  private readonly sessions = new Map<string, { session: ClientSession; device: DeviceIdentity }>();
  private readonly denied;
  /** Publish latency: adapter publish -> accepted (in the bridge log when it forwards it, and routed). */
  private readonly latency: Histogram;
  private closed = false;

  constructor(private readonly deps: MessageApiDeps, private readonly onHandlerError: (err: Error) => void) {
    this.denied = deps.metrics.counter('messages/dropped/not_authorized');
    this.latency = deps.metrics.histogram('adapters/{adapter}/publish_duration_seconds', { adapter: deps.adapter ?? 'unnamed' });
  }

  async publish(req: PublishRequest): Promise<void> {
    const started = performance.now();
    if (this.closed) throw new PublishRejected('unavailable', 'the adapter is stopping');
    const bad = invalidTopicName(req.topic);
    if (bad) throw new PublishRejected('invalid_topic', `invalid topic "${req.topic}": ${bad}`);
    const payload = typeof req.payload === 'string' ? Buffer.from(req.payload) : req.payload;
    // Fixed header (<= 5) + topic length (2) + topic: the size the message has as an MQTT PUBLISH.
    const size = 7 + Buffer.byteLength(req.topic) + payload.length;
    if (size > this.deps.maxPacketSize) {
      this.deps.metrics.counter('messages/dropped').inc();
      throw new PublishRejected('too_large', `message of ${size} bytes from ${req.device.protocol} device ${req.device.id} exceeds broker.max_packet_size ${this.deps.maxPacketSize}`);
    }
    const p = principalOf(req.device);
    if (!this.deps.auth.authorize(p, 'publish', req.topic)) {
      this.denied.inc();
      this.deps.metrics.counter('messages/dropped').inc();
      throw new PublishRejected('not_authorized', `${req.device.protocol} device ${req.device.id} may not publish to ${req.topic}`);
    }
    this.deps.registry.seen(req.device);
    await this.deps.broker.publish({
      topic: req.topic,
      payload,
      qos: req.qos ?? 0,
      retain: req.retain ?? false,
      origin: 'adapter',
      clientid: req.device.id,
      device: req.device,
    });
    this.latency.observe((performance.now() - started) / 1000);
  }

  async subscribe(filter: string, onMessage: (msg: DeliveredMessage) => void, device?: DeviceIdentity): Promise<Subscription> {
    if (this.closed) throw new PublishRejected('unavailable', 'the adapter is stopping');
    const bad = invalidTopicFilter(filter);
    if (bad) throw new PublishRejected('invalid_topic', `invalid topic filter "${filter}": ${bad}`);
    if (device && !this.deps.auth.authorize(principalOf(device), 'subscribe', filter)) {
      throw new PublishRejected('not_authorized', `${device.protocol} device ${device.id} may not subscribe to ${filter}`);
    }
    const guarded = (m: DeliveredMessage) => {
      try {
        onMessage(m);
      } catch (err) {
        this.onHandlerError(err as Error);
      }
    };
    const remove = await this.deps.broker.subscribe(filter, guarded);
    let done = false;
    const unsubscribe = async () => {
      if (done) return;
      done = true;
      this.subscriptions.delete(unsubscribe);
      await remove();
    };
    this.subscriptions.add(unsubscribe);
    return { unsubscribe };
  }

  authenticate(device: DeviceIdentity, password: string | Buffer | undefined) {
    return this.deps.auth.authenticate(principalOf(device), password);
  }

  identify(device: DeviceIdentity) {
    return this.deps.auth.identify(principalOf(device));
  }

  deviceSeen(device: DeviceIdentity): void {
    this.deps.registry.seen(device);
  }

  deviceConnected(device: DeviceIdentity, info: SessionInfo = {}): void {
    this.deps.registry.seen(device, true);
    const p = principalOf(device);
    const session: ClientSession = {
      clientid: device.id,
      username: device.username,
      ipaddress: p.ipaddress,
      sockport: info.sockport,
      peerport: devicePort(device),
      protocol: device.protocol,
      proto_name: info.proto_name ?? device.protocol.toUpperCase(),
      proto_ver: info.proto_ver ?? 1,
      keepalive: info.keepalive ?? 0,
      clean_start: true,
      connected_at: Date.now(),
    };
    this.sessions.set(`${device.protocol}\u0000${device.id}`, { session, device });
    this.deps.sys.connected(session);
  }

  deviceDisconnected(device: DeviceIdentity, reason: string): void {
    const key = `${device.protocol}\u0000${device.id}`;
    const open = this.sessions.get(key);
    this.deps.registry.seen(device, false);
    if (!open) return;
    this.sessions.delete(key);
    this.deps.sys.disconnected(open.session, reason);
  }

  /** Releases every subscription; sessions the adapter left open are reported disconnected. */
  async close(reason: string): Promise<void> {
    this.closed = true;
    await Promise.all([...this.subscriptions].map((u) => u()));
    for (const { device: d } of [...this.sessions.values()]) {
      // Without its address: the registry keeps the latest one (it may have moved since it connected).
      this.deviceDisconnected({ protocol: d.protocol, id: d.id, transport: d.transport, username: d.username }, reason);
    }
  }
}
