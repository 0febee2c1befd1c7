import type { IClientPublishOptions } from 'mqtt';
import type { Counter } from '../metrics/metrics.ts';
import type { UpstreamConfig } from './config.ts';
import type { CompiledForward, UpstreamRules } from './rules.ts';
import type { ReadRecord } from './store.ts';

export type DropReason = 'expired' | 'failed' | 'no_rule' | 'too_large';

/** `always`: log it now, whatever the drop log's rate limit (rare and worth a line of its own). */
export type OnDrop = (reason: DropReason, rec: ReadRecord, detail?: string, always?: boolean) => void;

export interface OutgoingDeps {
  cfg: UpstreamConfig;
  epoch: string;
  rules: UpstreamRules;
  ttl: number;
  counters: { expired: Counter; noRule: Counter; tooLarge: Counter };
  onDrop: OnDrop;
}

/**
 * Publish options without properties, one object per QoS and retain flag instead of one per
 * message: MQTT.js only reads them (it spreads them into an object of its own).
 */
const SHARED_OPTS: Record<0 | 1, [IClientPublishOptions, IClientPublishOptions]> = {
  0: [Object.freeze({ qos: 0, retain: false }), Object.freeze({ qos: 0, retain: true })],
  1: [Object.freeze({ qos: 1, retain: false }), Object.freeze({ qos: 1, retain: true })],
};

export interface Outgoing {
  topic: string;
  payload: Buffer | string;
  opts: IClientPublishOptions;
}

/**
 * What one upstream sends for a queued record: the checks that drop it before it goes (expired,
 * no forward rule any more, too large) and its wire form (remote topic, QoS/retain, stable id).
 * Kept apart from the consumer, which decides when and in what order records go, not what they
 * look like. Two steps, because the consumer's poison-message check sits between them (a poison
 * message that has expired or lost its rule counts as that, as it always has).
 */
export class OutgoingFormat {
  /** How each message carries its stable id (message_id `auto` resolved by protocol version). */
  private readonly idMode: 'user_property' | 'envelope' | 'none';

  constructor(private readonly deps: OutgoingDeps) {
    const { message_id, protocol_version } = deps.cfg;
    this.idMode = message_id === 'auto' ? (protocol_version === 5 ? 'user_property' : 'none') : message_id;
  }

  /** The forward rule `rec` goes by, or undefined when it has expired or none matches (counted, logged). */
  admit(rec: ReadRecord): CompiledForward | undefined {
    const { rules, counters } = this.deps;
    if (this.deps.ttl > 0 && Date.now() - rec.ts > this.deps.ttl) {
      counters.expired.inc();
      this.deps.onDrop('expired', rec);
      return undefined;
    }
    const rule = rules.match(rec.topic);
    if (!rule) {
      // The forward rules changed since the message was queued.
      counters.noRule.inc();
      this.deps.onDrop('no_rule', rec);
      return undefined;
    }
    return rule;
  }

  /**
   * What goes on the wire for `rec` under `rule`, its id tagged with `lane` ('h' or 'n'), or
   * undefined when it is larger than `max_message_bytes` (counted, logged).
   */
  wire(rule: CompiledForward, rec: ReadRecord, lane: 'h' | 'n'): Outgoing | undefined {
    const { cfg, rules, counters } = this.deps;
    const retain = rule.retain ?? rec.retain;
    let opts = SHARED_OPTS[rule.qos][retain ? 1 : 0];
    let payload: Buffer | string = rec.payload;
    if (this.idMode !== 'none') {
      const id = `${this.deps.epoch}-${lane}${rec.seq}`;
      if (this.idMode === 'user_property') opts = { qos: rule.qos, retain, properties: { userProperties: { 'fg-id': id, 'fg-ts': String(rec.ts) } } };
      else payload = JSON.stringify({ id, ts: rec.ts, topic: rec.topic, payload: rec.payload.toString('base64') });
    }
    const topic = rules.remoteTopic(rule, rec.topic);
    const payloadBytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    // At most 3 bytes per UTF-16 unit: the exact count is needed only near the limit.
    const size = topic.length * 3 + payloadBytes <= cfg.max_message_bytes ? 0 : Buffer.byteLength(topic) + payloadBytes;
    if (size > cfg.max_message_bytes) {
      counters.tooLarge.inc();
      this.deps.onDrop('too_large', rec, `${size} bytes, more than max_message_bytes (${cfg.max_message_bytes}) of upstream ${cfg.name}`);
      return undefined;
    }
    return { topic, payload, opts };
  }
}
