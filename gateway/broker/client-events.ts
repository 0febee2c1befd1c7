import type { Aedes, Client } from 'aedes';
import type { BrokerConfig } from '../config/schema.ts';
import type { Logger } from '../log/logger.ts';
import { autoSubscribe } from './auto-subscribe.ts';
import type { ClientSession, ClientState, ClientTable } from './client-state.ts';
import { withFilter, withoutFilter } from './filter-set.ts';
import type { Qos0Queue } from './qos0-queue.ts';
import type { SessionTable } from './sessions.ts';
import type { SharedSubscriptions } from './shared.ts';

// What the broker does on aedes's client events: session bookkeeping (persistent sessions,
// shared-subscription members, queue_qos0 filters) and the connected/disconnected events $SYS
// and the client log report, with EMQX's disconnect reasons.

export interface ClientEventDeps {
  cfg: BrokerConfig;
  log: Logger;
  clients: ClientTable;
  sessions: SessionTable;
  shared: SharedSubscriptions;
  qos0?: Qos0Queue;
  connected(session: ClientSession): void;
  disconnected(session: ClientSession, reason: string): void;
}

function sessionOf(client: Client, st: ClientState): ClientSession {
  return {
    clientid: client.id,
    username: st.username,
    ipaddress: st.info.ipaddress,
    sockport: st.info.sockport,
    peerport: st.info.peerport,
    protocol: 'mqtt',
    proto_name: client.version === 3 ? 'MQIsdp' : 'MQTT',
    proto_ver: client.version,
    keepalive: st.keepalive,
    clean_start: st.clean,
    connected_at: Date.now(),
    listener: st.info.listener,
  };
}

/** EMQX's disconnect reason for an error aedes reports on a client. */
export function errorReason(err: Error & { code?: string }): string {
  if (err.code === 'ECONNRESET' || err.code === 'EPIPE' || err.code === 'ETIMEDOUT') return 'tcp_closed';
  if (/keep ?alive/i.test(err.message)) return 'keepalive_timeout';
  return 'protocol_error';
}

function onReady(d: ClientEventDeps, client: Client): void {
  const st = d.clients.get(client);
  if (!st) return;
  d.clients.current.set(client.id, client);
  autoSubscribe(client, d.clients.principal(client), d.cfg.auto_subscribe, d.log);
  d.shared.connected(client, st.clean);
  if (st.clean) {
    d.qos0?.forget(client.id);
    d.sessions.forget(client.id);
  } else d.sessions.online(client.id);
  st.session = sessionOf(client, st);
  d.connected(st.session);
}

function onDisconnect(d: ClientEventDeps, client: Client): void {
  const st = d.clients.get(client);
  d.sessions.connectEnded(client.id, client);
  if (d.clients.current.get(client.id) === client) {
    d.clients.current.delete(client.id);
    d.shared.disconnected(client.id, st?.clean ?? true);
    if (st && !st.clean) d.sessions.offline(client.id);
  }
  if (!st?.session) return;
  if (st.clean) d.clients.subs.delete(client.id);
  // Read off our own view of the client's stream: aedes has no public accessor for it.
  const sentDisconnect = st.sawDisconnect;
  const reason = st.reason ?? (sentDisconnect ? 'normal' : d.clients.stopping ? 'server_shutting_down' : 'tcp_closed');
  d.disconnected(st.session, reason);
}

export function wireClientEvents(a: Aedes, d: ClientEventDeps): void {
  // aedes registers a client, then sends its session's queue, then makes it ready (clientReady).
  a.on('client', (client) => {
    if (!client.clean) d.sessions.connectStarted(client.id, client);
  });
  a.on('clientReady', (client) => onReady(d, client));
  a.on('clientDisconnect', (client) => onDisconnect(d, client));
  a.on('publish', (packet) => {
    d.qos0?.published(packet).catch((err: Error) => d.log.warn({ topic: packet.topic, err: err.message }, 'queue_qos0: queueing for offline sessions failed'));
  });
  a.on('keepaliveTimeout', (client) => d.clients.setReason(client, 'keepalive_timeout'));
  a.on('clientError', (client, err) => {
    const st = d.clients.get(client);
    if (st && !st.reason) st.reason = errorReason(err);
    d.log.debug({ clientid: client.id, err: err.message }, 'client error');
  });
  a.on('subscribe', (subs, client) => {
    let set = d.clients.subs.get(client.id);
    for (const s of subs) set = withFilter(set, s.topic);
    if (set !== undefined) d.clients.subs.set(client.id, set);
    if (d.qos0 && !d.clients.get(client)?.clean) for (const s of subs) d.qos0.subscribed(client.id, s.topic, s.qos);
  });
  a.on('unsubscribe', (topics, client) => {
    let set = d.clients.subs.get(client.id);
    for (const t of topics) {
      set = withoutFilter(set, t);
      d.shared.unsubscribed(client.id, t);
      d.qos0?.unsubscribed(client.id, t);
    }
    if (set !== undefined) d.clients.subs.set(client.id, set);
  });
}
