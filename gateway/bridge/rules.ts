import { invalidTopicName, topicMatches } from '../core/topic.ts';
import type { DownlinkRule, ForwardRule, UpstreamConfig } from './config.ts';

// Forward (uplink) and downlink rules of one upstream, with their templates expanded once.

export function expand(template: string, vars: Record<string, string>): string {
  return template.replace(/\{([a-zA-Z]+)\}/g, (all, name: string) => vars[name] ?? all);
}

export interface CompiledForward {
  local: string;
  remote: string;
  qos: 0 | 1;
  retain?: boolean;
  lane: 'high' | 'normal';
  /** `remote` split at {topic}, so a remote topic is a concatenation, not a regex replace per message. */
  remoteParts: string[];
}

export interface CompiledDownlink {
  remote: string;
  local: string;
  qos: 0 | 1;
  /** Levels of `remote` before its first wildcard; stripped to make {rest}. */
  fixedLevels: number;
}

/**
 * The variables of every template of an upstream: {gatewayId}, {clientid} (the expanded client_id)
 * and {prefix} (the expanded prefix). Forward `remote` templates add {topic} (the local topic);
 * downlink `local` templates add {topic} (the remote topic) and {rest}.
 */
export function templateVars(cfg: UpstreamConfig, gatewayId: string): { gatewayId: string; clientid: string; prefix: string } {
  const clientid = expand(cfg.client_id, { gatewayId });
  return { gatewayId, clientid, prefix: expand(cfg.prefix, { gatewayId, clientid }) };
}

export class UpstreamRules {
  readonly prefix: string;
  readonly clientId: string;
  forward: CompiledForward[];
  readonly downlink: CompiledDownlink[];

  constructor(cfg: UpstreamConfig, private readonly gatewayId: string) {
    const vars = templateVars(cfg, gatewayId);
    this.prefix = vars.prefix;
    this.clientId = vars.clientid;
    this.forward = UpstreamRules.compileForward(cfg, vars);
    this.downlink = cfg.downlink.map((r: DownlinkRule) => {
      const remote = expand(r.remote, vars);
      const levels = remote.split('/');
      const wild = levels.findIndex((l) => l === '+' || l === '#');
      return { remote, local: expand(r.local, vars), qos: r.qos, fixedLevels: wild < 0 ? levels.length : wild };
    });
  }

  /**
   * New forward rules in place (SIGHUP): the ingress hook and the consumer share this object, so
   * the next message, and each queued one when its turn comes, is matched against them.
   */
  replaceForward(cfg: UpstreamConfig): void {
    this.forward = UpstreamRules.compileForward(cfg, templateVars(cfg, this.gatewayId));
  }

  private static compileForward(cfg: UpstreamConfig, vars: Record<string, string>): CompiledForward[] {
    return cfg.forward.map((r: ForwardRule) => ({
      local: expand(r.local, vars),
      // {topic} stays a placeholder until a message is matched.
      remote: expand(r.remote, vars),
      remoteParts: expand(r.remote, vars).split('{topic}'),
      qos: r.qos,
      retain: r.retain,
      lane: r.priority === 'high' ? ('high' as const) : ('normal' as const),
    }));
  }

  /** The first forward rule taking `topic`, or undefined. First match wins, like a routing table. */
  match(topic: string): CompiledForward | undefined {
    for (const r of this.forward) if (topicMatches(r.local, topic)) return r;
    return undefined;
  }

  remoteTopic(rule: CompiledForward, topic: string): string {
    const parts = rule.remoteParts;
    if (parts.length === 2) return parts[0] + topic + parts[1];
    return parts.join(topic);
  }

  /** The local topic a downlink message goes to, or undefined when no rule takes it. */
  localTopic(remoteTopic: string): { topic: string; rule: CompiledDownlink } | { error: string } | undefined {
    for (const rule of this.downlink) {
      if (!topicMatches(rule.remote, remoteTopic)) continue;
      const rest = remoteTopic.split('/').slice(rule.fixedLevels).join('/') || remoteTopic;
      // Function replacers: a cloud topic is data, its "$&" or "$'" must not act as replacement patterns.
      const topic = rule.local.replace(/\{topic\}/g, () => remoteTopic).replace(/\{rest\}/g, () => rest);
      const bad = invalidTopicName(topic);
      return bad ? { error: `downlink ${remoteTopic} -> "${topic}": ${bad}` } : { topic, rule };
    }
    return undefined;
  }
}
