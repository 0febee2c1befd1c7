// The shapes that cross the boundary between adapters, the broker and the bridge.

import type { DeviceIdentity } from './identity.ts';

export type { DeviceIdentity, DeviceTransport } from './identity.ts';

export type Qos = 0 | 1;

/** Where a message entered the gateway. The bridge uses it to never send a downlink back up. */
export type Origin = 'mqtt' | 'adapter' | 'bridge' | 'internal';

/** A message on its way into the internal broker, before it is accepted. */
export interface IngressMessage {
  topic: string;
  payload: Buffer;
  qos: Qos;
  retain: boolean;
  origin: Origin;
  /** The MQTT client id or the device id. */
  clientid: string;
  device?: DeviceIdentity;
  /**
   * MQTT 5 message expiry interval (seconds) the message arrived with, e.g. a cloud downlink's:
   * how much longer it is valid. An adapter can use it as a command's expiry.
   */
  messageExpiryInterval?: number;
}

/** A message delivered to an adapter's downlink subscription. */
export interface DeliveredMessage {
  topic: string;
  payload: Buffer;
  qos: Qos;
  retain: boolean;
  /** As on IngressMessage: seconds it was still valid when published into the broker. */
  messageExpiryInterval?: number;
}

export type RejectReason = 'not_authorized' | 'invalid_topic' | 'queue_full' | 'unavailable' | 'too_large';

/** A publish the gateway did not accept. Adapters map `reason` to their protocol's error code. */
export class PublishRejected extends Error {
  constructor(readonly reason: RejectReason, message: string) {
    super(message);
    this.name = 'PublishRejected';
  }
}
