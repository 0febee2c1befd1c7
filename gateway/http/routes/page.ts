import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { invalidTopicFilter } from '../../core/topic.ts';
import { WWW } from '../www-dir.ts';
import type { RouteDeps } from './deps.ts';

// The page is plain files (see www-dir.ts), read once and kept in memory.
const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

/** Concurrent live tails; one more gets 503 rather than another subscription. */
const MAX_TAILS = 8;
/** A tail whose browser reads slower than messages arrive skips messages beyond this backlog. */
const MAX_BUFFERED = 256 * 1024;
const MAX_PAYLOAD_CHARS = 2048;

/** The page's files, read once and kept in memory. */
function staticRoutes(app: FastifyInstance): void {
  const cache = new Map<string, Buffer>();
  const serve = (file: string) => async (_req: unknown, reply: { type(t: string): { header(k: string, v: string): unknown } }) => {
    let body = cache.get(file);
    if (!body) {
      body = await readFile(new URL(file, WWW));
      cache.set(file, body);
    }
    reply.type(FILES[file]!).header('cache-control', 'no-cache');
    return body;
  };
  // HEAD / as well: what uptime checkers send (the app has no automatic HEAD routes; server.ts).
  app.route({ method: ['GET', 'HEAD'], url: '/', schema: { hide: true }, handler: serve('index.html') });
  for (const f of Object.keys(FILES)) app.get(`/${f}`, { schema: { hide: true } }, serve(f));
}

/**
 * Streams the messages on `filter` to an accepted tail's response as server-sent events until the
 * browser goes away; `done` runs once, when it has.
 */
async function streamTail(req: FastifyRequest, res: ServerResponse, filter: string, { view, log }: RouteDeps, done: () => void): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
  res.write(`event: ready\ndata: ${JSON.stringify({ topic: filter })}\n\n`);
  let skipped = 0;
  let unsubscribe: (() => Promise<void>) | undefined;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    done();
    clearInterval(ping);
    unsubscribe?.().catch((err: Error) => log.warn({ err: err.message }, 'live tail: unsubscribe failed'));
  };
  // Comments keep proxies and phones from closing an idle stream.
  const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
  ping.unref();
  req.raw.on('close', close);
  res.on('error', close);
  try {
    unsubscribe = await view.subscribe(filter, (m) => {
      if (closed) return;
      if (res.writableLength > MAX_BUFFERED) {
        skipped++;
        return;
      }
      const text = m.payload.toString('utf8');
      const msg = { ts: Date.now(), topic: m.topic, qos: m.qos, retain: m.retain, payload: text.length > MAX_PAYLOAD_CHARS ? `${text.slice(0, MAX_PAYLOAD_CHARS)}…` : text, bytes: m.payload.length, skipped_before: skipped };
      skipped = 0;
      res.write(`data: ${JSON.stringify(msg)}\n\n`);
    });
    if (closed) await unsubscribe();
  } catch (err) {
    log.warn({ err: (err as Error).message, topic: filter }, 'live tail: subscribe failed');
    res.end();
    close();
  }
}

/** The live tail: checks the filter, the ACL and the number of open tails, then streams. */
function tailRoute(app: FastifyInstance, deps: RouteDeps): void {
  let tails = 0;
  app.get('/api/v5/tail', {
    schema: {
      summary: 'Live messages on a topic filter as server-sent events (the ACL decides what you may read)',
      tags: ['fieldgate'],
      produces: ['text/event-stream'],
      querystring: { type: 'object', properties: { topic: { type: 'string', minLength: 1 } }, required: ['topic'] },
    },
  }, async (req, reply) => {
    const filter = (req.query as { topic: string }).topic;
    const bad = invalidTopicFilter(filter);
    if (bad) return reply.code(400).send({ code: 'BAD_REQUEST', message: `invalid topic filter "${filter}": ${bad}` });
    if (!deps.view.authorize({ clientid: 'http_tail', username: req.apiKey, ipaddress: req.socket.remoteAddress, protocol: 'http' }, 'subscribe', filter)) {
      return reply.code(403).send({ code: 'NOT_AUTHORIZED', message: `the ACL does not allow reading ${filter}` });
    }
    if (tails >= MAX_TAILS) return reply.code(503).send({ code: 'SERVICE_UNAVAILABLE', message: `${MAX_TAILS} live tails are open already` });
    tails++;
    reply.hijack();
    await streamTail(req, reply.raw, filter, deps, () => tails--);
  });
}

export function pageRoutes(app: FastifyInstance, deps: RouteDeps): void {
  staticRoutes(app);
  tailRoute(app, deps);
}
