import type { FastifyReply, FastifyRequest } from 'fastify';
import { isLoopback } from '../auth/acl.ts';
import { RateLimitedLog } from '../core/log-limit.ts';
import type { Logger } from '../log/logger.ts';
import { BucketMap, type Rate } from '../limits/rate.ts';
import type { ApiKeyStore } from './apikeys.ts';

export interface HttpAuthOptions {
  keys: ApiKeyStore;
  anonymousRead: 'loopback' | 'never';
  failureRate: Rate | undefined;
  log: Logger;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The API key's name, when the request carried a valid one. */
    apiKey?: string;
  }
  interface FastifyContextConfig {
    /** No credentials needed (EMQX: /status). */
    public?: boolean;
  }
}

const READ = new Set(['GET', 'HEAD']);

function deny(reply: FastifyReply, status: number, code: string, message: string): FastifyReply {
  if (status === 401) reply.header('www-authenticate', 'Basic realm="fieldgate"');
  return reply.code(status).send({ code, message });
}

/**
 * Who may call: requests from this machine may read without a key (unless anonymous_read is
 * `never`); everything else, and every write, needs an API key as HTTP Basic `key:secret`, as in
 * EMQX. Wrong credentials get 401; an address that keeps trying gets 429 until its failure bucket
 * refills, without the key being checked. Neither the header nor the secret is ever logged.
 */
export function authHook(opts: HttpAuthOptions) {
  const failures = opts.failureRate ? new BucketMap(opts.failureRate, 10_000) : undefined;
  // A caller can retry at will: one line per 10 s, the next says how many were left out.
  const refusals = new RateLimitedLog({ intervalMs: 10_000, write: (f, m) => opts.log.warn(f, m) });
  const logFailure = (ip: string, why: string) => {
    refusals.event('refused', (more) => ({ fields: { ipaddress: ip }, msg: `HTTP API: ${why}${more ? ` (${more} more refusals since the last line)` : ''}` }));
  };
  return async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (req.routeOptions.config.public) return;
    const ip = req.socket.remoteAddress ?? '';
    const header = req.headers.authorization;
    if (!header) {
      if (READ.has(req.method) && opts.anonymousRead === 'loopback' && isLoopback(ip)) return;
      return void deny(reply, 401, 'BAD_API_KEY_OR_SECRET', READ.has(req.method) ? 'an API key is needed from this address (HTTP Basic key:secret; create one with "fieldgate apikey create NAME")' : 'writes need an API key (HTTP Basic key:secret; create one with "fieldgate apikey create NAME")');
    }
    const bucket = failures?.get(ip);
    if (bucket && !bucket.has(1)) {
      reply.header('retry-after', '60');
      return void deny(reply, 429, 'TOO_MANY_REQUESTS', 'too many wrong credentials from this address; wait and try again');
    }
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (bearer?.[1] && isLoopback(ip) && opts.keys.verifyCliToken(bearer[1])) {
      req.apiKey = 'cli';
      return;
    }
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header);
    if (!m?.[1]) {
      bucket?.take();
      return void deny(reply, 401, 'AUTHORIZATION_HEADER_ERROR', 'use HTTP Basic authentication with an API key as user and its secret as password');
    }
    const decoded = Buffer.from(m[1], 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const name = colon > 0 ? opts.keys.verify(decoded.slice(0, colon), decoded.slice(colon + 1)) : undefined;
    if (!name) {
      bucket?.take();
      logFailure(ip, 'wrong API key or secret');
      return void deny(reply, 401, 'BAD_API_KEY_OR_SECRET', 'Check api_key/api_secret');
    }
    req.apiKey = name;
  };
}
