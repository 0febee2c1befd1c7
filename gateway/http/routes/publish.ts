import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { PublishRejected, type Qos } from '../../core/message.ts';
import { invalidTopicName, topicMatches } from '../../core/topic.ts';
import type { RouteDeps } from './deps.ts';

interface PublishBody {
  topic: string;
  payload: string;
  payload_encoding: 'plain' | 'base64';
  qos: 0 | 1 | 2;
  retain: boolean;
}

const reasonBody = { type: 'object', properties: { reason_code: { type: 'integer' }, message: { type: 'string' } } } as const;

/** MQTT 5 reason codes EMQX answers with, by why the gateway did not take the message. */
const REJECTED: Record<string, [number, number, string]> = {
  not_authorized: [403, 135, 'not_authorized'],
  invalid_topic: [400, 144, 'topic_name_invalid'],
  too_large: [400, 151, 'packet_too_large'],
  queue_full: [503, 151, 'quota_exceeded'],
  unavailable: [503, 131, 'failed_to_dispatch'],
};

/**
 * EMQX's POST /publish, through the same path as any publish: the ACL (as client `http_api` with
 * the API key's name as username), the ingress hooks (the bridge log when a forward rule matches),
 * then the broker. 200 when a subscriber matched, 202 when none did (it was still published).
 */
export function publishRoutes(app: FastifyInstance, { view, log }: RouteDeps): void {
  app.post('/api/v5/publish', {
    schema: {
      summary: 'Publish a message (ACL and the bridge log apply)',
      tags: ['publish'],
      body: {
        type: 'object',
        properties: {
          topic: { type: 'string', minLength: 1 },
          payload: { type: 'string' },
          payload_encoding: { type: 'string', enum: ['plain', 'base64'], default: 'plain' },
          qos: { type: 'integer', minimum: 0, maximum: 2, default: 0, description: 'QoS 2 is delivered as QoS 1 (the internal broker speaks 0 and 1)' },
          retain: { type: 'boolean', default: false },
          properties: { type: 'object', description: 'accepted and ignored: the internal broker speaks MQTT 3.1.1' },
          clientid: { type: 'string', description: 'deprecated in EMQX, ignored' },
        },
        required: ['topic', 'payload'],
      },
      responses: { 200: { type: 'object', properties: { id: { type: 'string' } } }, 202: reasonBody, 400: reasonBody, 403: reasonBody, 503: reasonBody },
    },
  }, async (req, reply) => {
    const b = req.body as PublishBody;
    const bad = invalidTopicName(b.topic);
    if (bad) return reply.code(400).send({ reason_code: 144, message: 'topic_name_invalid' });
    let payload: Buffer;
    if (b.payload_encoding === 'base64') {
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b.payload) || b.payload.length % 4 !== 0) return reply.code(400).send({ reason_code: 131, message: 'bad base64 payload' });
      payload = Buffer.from(b.payload, 'base64');
    } else payload = Buffer.from(b.payload, 'utf8');
    if (7 + Buffer.byteLength(b.topic) + payload.length > view.maxPacketSize) return reply.code(400).send({ reason_code: 151, message: 'packet_too_large' });
    const principal = { clientid: 'http_api', username: req.apiKey, ipaddress: req.socket.remoteAddress, protocol: 'http' };
    if (!view.authorize(principal, 'publish', b.topic)) {
      log.info({ topic: b.topic, key: req.apiKey }, 'HTTP publish denied by ACL');
      return reply.code(403).send({ reason_code: 135, message: 'not_authorized' });
    }
    try {
      await view.publish({ topic: b.topic, payload, qos: (b.qos > 0 ? 1 : 0) as Qos, retain: b.retain, origin: 'internal', clientid: 'http_api' });
    } catch (err) {
      const r = err instanceof PublishRejected ? REJECTED[err.reason] : undefined;
      const [status, code, message] = r ?? [503, 131, 'failed_to_dispatch'];
      log.warn({ topic: b.topic, err: (err as Error).message }, 'HTTP publish not accepted');
      return reply.code(status as 503).send({ reason_code: code, message });
    }
    const matched = view.clients.subscriptions().some((s) => topicMatches(s.topic, b.topic));
    if (!matched) return reply.code(202).send({ reason_code: 16, message: 'no_matching_subscribers' });
    return { id: randomBytes(16).toString('hex') };
  });
}
