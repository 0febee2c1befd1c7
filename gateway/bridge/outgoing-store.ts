import { Readable } from 'node:stream';
import type { IStore } from 'mqtt';

/**
 * MQTT.js's outgoing store for the upstream link: keeps nothing. By default MQTT.js holds a copy
 * of every QoS 1 publish (packet and payload) until its PUBACK, to resend it after a reconnect of
 * the same client. The bridge never needs it: each connection is a new client (MQTT.js does not
 * reconnect on its own, so no store is ever replayed), and what was not acknowledged is resent
 * from the log, the copy that matters. Holding a second copy of every message in flight only made
 * it live through garbage collections (measured: bytes promoted and copied per message).
 */
export class NoOutgoingStore implements IStore {
  put(_packet: unknown, cb: () => void): this {
    cb();
    return this;
  }

  /**
   * What MQTT.js resends after CONNACK: nothing (it waits for this stream to end). The cast is
   * between two declarations of one public type: MQTT.js types this as readable-stream's Readable,
   * a package of its own we do not depend on; node:stream's Readable is what it reads at run time.
   */
  createStream(): ReturnType<IStore['createStream']> {
    return Readable.from([], { objectMode: true }) as unknown as ReturnType<IStore['createStream']>;
  }

  /** Called on each PUBACK: the acknowledgement must not fail for want of a stored copy. */
  del(packet: Parameters<IStore['del']>[0], cb: Parameters<IStore['del']>[1]): this {
    cb(undefined, packet as Parameters<typeof cb>[1]);
    return this;
  }

  get(_packet: Parameters<IStore['get']>[0], cb: Parameters<IStore['get']>[1]): this {
    cb(new Error('the bridge keeps no outgoing store: unacknowledged messages are resent from its log'));
    return this;
  }

  close(cb: () => void): void {
    cb();
  }
}
