import type { Client } from 'aedes';
import { expandPlaceholders } from '../auth/acl.ts';
import type { Principal } from '../auth/service.ts';
import type { BrokerConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';

/**
 * broker.auto_subscribe (EMQX's auto_subscribe): subscribes the client as if it had sent SUBSCRIBE,
 * through aedes's public Client.subscribe, so the broker's authorizeSubscribe (the ACL) and
 * retained delivery apply; no SUBACK is sent. A topic whose %c/%u cannot stand for one plain
 * level (or would make it start with "$") is skipped for that client.
 */
export function autoSubscribe(client: Client, p: Principal, auto: BrokerConfig['auto_subscribe'], log: Logger): void {
  if (!auto.length) return;
  const subs = auto.flatMap((a) => {
    const topic = expandPlaceholders(a.topic, p);
    return topic === undefined ? [] : [{ topic, qos: a.qos }];
  });
  if (!subs.length) return;
  client.subscribe(subs, (err) => {
    if (err) log.warn({ clientid: client.id, err: err.message }, 'auto_subscribe failed');
  });
}
