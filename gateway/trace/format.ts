import type { Packet } from 'mqtt-packet';

export type PayloadEncode = 'text' | 'hex' | 'hidden';

function payloadText(p: Buffer | string | undefined, enc: PayloadEncode): string {
  if (p === undefined) return '';
  const b = typeof p === 'string' ? Buffer.from(p) : p;
  if (enc === 'hidden') return '******';
  if (enc === 'hex') return b.toString('hex');
  return JSON.stringify(b.toString('utf8'));
}

/** One decoded MQTT packet as EMQX's trace prints it: `PUBLISH(Q1, R0, D0, Topic=t, PacketId=1, Payload=...)`. */
export function describePacket(p: Packet, enc: PayloadEncode): string {
  switch (p.cmd) {
    case 'connect':
      return `CONNECT(Q0, R0, D0, ClientId=${p.clientId}, ProtoName=${p.protocolId}, ProtoVer=${p.protocolVersion}, CleanStart=${p.clean}, KeepAlive=${p.keepalive}, Username=${p.username ?? 'undefined'}, Password=${p.password ? '******' : 'undefined'}${p.will ? `, Will(Topic=${p.will.topic}, Q${p.will.qos ?? 0})` : ''})`;
    case 'connack':
      return `CONNACK(Q0, R0, D0, AckFlags=${p.sessionPresent ? 1 : 0}, ReasonCode=${p.returnCode ?? p.reasonCode ?? 0})`;
    case 'publish':
      return `PUBLISH(Q${p.qos}, R${p.retain ? 1 : 0}, D${p.dup ? 1 : 0}, Topic=${p.topic}, PacketId=${p.messageId ?? 'undefined'}, Payload=${payloadText(p.payload, enc)})`;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
    case 'unsuback':
      return `${p.cmd.toUpperCase()}(Q${p.cmd === 'pubrel' ? 1 : 0}, R0, D0, PacketId=${p.messageId})`;
    case 'subscribe':
      return `SUBSCRIBE(Q1, R0, D0, PacketId=${p.messageId}, TopicFilters=[${p.subscriptions.map((s) => `${s.topic}(Q${s.qos})`).join(', ')}])`;
    case 'suback':
      return `SUBACK(Q0, R0, D0, PacketId=${p.messageId}, ReasonCodes=[${(p.granted as unknown[]).map((g) => (typeof g === "number" ? g : (g as { qos?: number }).qos)).join(", ")}])`;
    case 'unsubscribe':
      return `UNSUBSCRIBE(Q1, R0, D0, PacketId=${p.messageId}, TopicFilters=[${p.unsubscriptions.join(', ')}])`;
    case 'pingreq':
    case 'pingresp':
    case 'disconnect':
    case 'auth':
      return `${p.cmd.toUpperCase()}(Q0, R0, D0)`;
  }
}

/** A message seen by a topic trace (no packet: it may have come from any protocol). */
export function describeMessage(m: { topic: string; qos: number; retain: boolean; payload: Buffer }, enc: PayloadEncode): string {
  return `PUBLISH(Q${m.qos}, R${m.retain ? 1 : 0}, Topic=${m.topic}, Payload=${payloadText(m.payload, enc)})`;
}
