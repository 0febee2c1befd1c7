import { topicMatches } from '../core/topic.ts';

// [MQTT-4.7.2-1]: a subscription whose filter starts with a wildcard (# or +) must not receive
// topics starting with $. aedes (1.2) keeps that rule for live messages but not for retained
// ones: on SUBSCRIBE it serves every retained message its store matches, so a `#` subscriber
// would get the retained $SYS tree. This check runs in aedes's public authorizeForward hook, for
// every retained delivery of a $ topic: the client must hold a filter that matches the topic
// under the MQTT rule. (aedes emits 'subscribe' before it streams the retained messages, so the
// new filter is already known here.)

/** Whether a message may go to a client subscribed with `filters` (one filter or many; undefined: not known). */
export function mayForward(topic: string, retain: boolean, filters: string | Iterable<string> | undefined): boolean {
  if (!retain || topic.charCodeAt(0) !== 0x24 /* $ */ || filters === undefined) return true;
  if (typeof filters === 'string') return topicMatches(filters, topic);
  for (const f of filters) if (topicMatches(f, topic)) return true;
  return false;
}
