import type { IPublishPacket } from 'mqtt';
import type { Broker } from '../broker/broker.ts';
import type { IngressMessage } from '../core/message.ts';
import type { Logger } from '../log/logger.ts';
import type { Counter } from '../metrics/metrics.ts';
import type { UpstreamRules } from './rules.ts';
import type { UpstreamLink } from './upstream.ts';

export interface DownlinkDeps {
  name: string;
  rules: UpstreamRules;
  broker: Broker;
  log: Logger;
  received: Counter;
}

/**
 * Messages from the cloud into the local broker: subscribes to the downlink rules' remote filters
 * on every connection, maps each message to its local topic and publishes it locally (origin
 * `bridge`, so the bridge's own hook never sends it back up), with its MQTT 5 message expiry
 * interval when it has one.
 */
export class Downlink {
  /** Whether the server granted the downlink subscriptions on the current connection. */
  subscribed = false;

  constructor(link: UpstreamLink, private readonly deps: DownlinkDeps) {
    const { rules, log, name } = deps;
    link.on('up', (client) => {
      if (!rules.downlink.length) return;
      client.subscribe(Object.fromEntries(rules.downlink.map((r) => [r.remote, { qos: r.qos }])), (err, granted) => {
        if (err) log.warn({ err: err.message }, `upstream ${name}: downlink subscribe failed: ${err.message}`);
        else if (granted?.some((g) => g.qos >= 0x80)) log.warn({ granted }, `upstream ${name}: downlink subscription refused by the server`);
        else this.subscribed = true;
      });
    });
    link.on('down', () => {
      this.subscribed = false;
    });
    link.on('message', (topic, payload, packet) => this.deliver(topic, payload, packet));
  }

  private deliver(topic: string, payload: Buffer, packet: IPublishPacket): void {
    const { rules, log, broker, name } = this.deps;
    const target = rules.localTopic(topic);
    if (!target) return;
    if ('error' in target) {
      log.warn(`bridge downlink dropped: ${target.error}`);
      return;
    }
    this.deps.received.inc();
    const msg: IngressMessage = { topic: target.topic, payload, qos: (Math.min(packet.qos, target.rule.qos) > 0 ? 1 : 0) as 0 | 1, retain: packet.retain, origin: 'bridge', clientid: `bridge:${name}` };
    // MQTT 5: how much longer the cloud says it is valid (a command's expiry for adapters).
    const expiry = packet.properties?.messageExpiryInterval;
    if (expiry !== undefined) msg.messageExpiryInterval = expiry;
    broker.publish(msg).catch((err: Error) => log.warn({ topic: target.topic, err: err.message }, 'bridge downlink not delivered locally'));
  }
}
