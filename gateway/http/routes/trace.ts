import { createReadStream, openSync, readSync, closeSync } from 'node:fs';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { parseDuration } from '../../config/duration.ts';
import { TraceError, type TraceInfo, type TraceSpec } from '../../trace/manager.ts';
import { errorBody, rfc3339 } from '../schemas.ts';
import type { RouteDeps } from './deps.ts';

const traceSchema = {
  type: 'object',
  properties: {
    name: { type: 'string' },
    type: { type: 'string', enum: ['clientid', 'topic'] },
    clientid: { type: 'string' },
    topic: { type: 'string' },
    start_at: { type: 'string' },
    end_at: { type: 'string' },
    payload_encode: { type: 'string', enum: ['text', 'hex', 'hidden'] },
    status: { type: 'string', enum: ['running', 'stopped'] },
    log_size: { type: 'object', additionalProperties: { type: 'integer' }, description: '{node: bytes}' },
    file: { type: 'string', description: 'fieldgate: where the trace is written' },
    skipped: { type: 'integer', description: 'fieldgate: lines not written once the file reached its bound' },
  },
} as const;

function out(node: string, t: TraceInfo) {
  return {
    name: t.name,
    type: t.type,
    [t.type]: t.filter,
    start_at: rfc3339(t.startAt),
    end_at: rfc3339(t.endAt),
    payload_encode: t.payloadEncode,
    status: t.status,
    log_size: { [node]: t.log_size },
    file: t.file,
    skipped: t.skipped,
  };
}

function time(v: string | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  return /^\d+$/.test(v) ? Number(v) * 1000 : Date.parse(v);
}

function fail(reply: FastifyReply, err: unknown) {
  if (err instanceof TraceError) return reply.code(err.status).send({ code: err.code, message: err.message });
  throw err;
}

const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] } as const;

const startBody = {
  type: 'object',
  properties: {
    name: { type: 'string', pattern: '^[A-Za-z][A-Za-z0-9_-]*$', maxLength: 256 },
    type: { type: 'string', enum: ['clientid', 'topic'] },
    clientid: { type: 'string', minLength: 1 },
    topic: { type: 'string', minLength: 1 },
    start_at: { type: 'string', description: 'RFC 3339 or epoch seconds; default now' },
    end_at: { type: 'string', description: 'RFC 3339 or epoch seconds; default start + 10 minutes' },
    duration: { type: 'string', description: 'fieldgate: instead of end_at, e.g. "10m"' },
    payload_encode: { type: 'string', enum: ['text', 'hex', 'hidden'], default: 'text' },
  },
  required: ['name', 'type'],
} as const;

interface StartBody { name: string; type: 'clientid' | 'topic'; clientid?: string; topic?: string; start_at?: string; end_at?: string; duration?: string; payload_encode: 'text' | 'hex' | 'hidden' }

const invalid = (message: string) => ({ code: 'INVALID_PARAMS', message });

/** The trace a POST asks for, or why it cannot be started (400). */
function traceRequest(b: StartBody): TraceSpec | { error: string } {
  const filter = b.type === 'clientid' ? b.clientid : b.topic;
  if (!filter) return { error: `type ${b.type} needs the ${b.type} field` };
  const startAt = time(b.start_at, Date.now());
  const dur = b.duration === undefined ? 600_000 : parseDuration(b.duration);
  if (dur === undefined) return { error: `"${b.duration}" is not a duration; write e.g. "10m"` };
  const endAt = time(b.end_at, startAt + dur);
  if (Number.isNaN(startAt) || Number.isNaN(endAt)) return { error: 'start_at/end_at take RFC 3339 or epoch seconds' };
  return { name: b.name, type: b.type, filter, startAt, endAt, payloadEncode: b.payload_encode };
}

/** Up to `bytes` of a trace file from `position`; nothing when the file is gone or shorter. */
function readChunk(file: string, position: number, bytes: number): Buffer {
  const buf = Buffer.alloc(bytes);
  try {
    const fd = openSync(file, 'r');
    try {
      return buf.subarray(0, readSync(fd, buf, 0, bytes, position));
    } finally {
      closeSync(fd);
    }
  } catch {
    return buf.subarray(0, 0);
  }
}

/** Listing, starting, stopping and deleting traces. */
function traceControlRoutes(app: FastifyInstance, { view, traces }: RouteDeps): void {
  app.get('/api/v5/trace', { schema: { summary: 'Traces, newest first', tags: ['trace'], responses: { 200: { type: 'array', items: traceSchema } } } }, async () => traces.list().map((t) => out(view.node, t)));

  app.post('/api/v5/trace', {
    schema: { summary: "Start tracing a client's packets or a topic's messages", tags: ['trace'], body: startBody, responses: { 200: traceSchema, 400: errorBody, 409: errorBody } },
  }, async (req, reply) => {
    const r = traceRequest(req.body as StartBody);
    if ('error' in r) return reply.code(400).send(invalid(r.error));
    try {
      return out(view.node, await traces.start(r));
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.put('/api/v5/trace/:name/stop', { schema: { summary: 'Stop a trace (its file is kept)', tags: ['trace'], params: nameParams, responses: { 404: errorBody } } }, async (req, reply) => {
    try {
      const t = await traces.stop((req.params as { name: string }).name);
      return { enable: false, name: t.name };
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.delete('/api/v5/trace/:name', { schema: { summary: 'Delete a trace and its file', tags: ['trace'], params: nameParams, responses: { 204: { type: 'null' }, 404: errorBody } } }, async (req, reply) => {
    try {
      await traces.delete((req.params as { name: string }).name);
      return reply.code(204).send();
    } catch (err) {
      return fail(reply, err);
    }
  });

  app.delete('/api/v5/trace', { schema: { summary: 'Delete every trace', tags: ['trace'], responses: { 204: { type: 'null' } } } }, async (_req, reply) => {
    await traces.deleteAll();
    return reply.code(204).send();
  });
}

/** Reading a trace's file: a byte range, or the whole file. */
function traceFileRoutes(app: FastifyInstance, { traces }: RouteDeps): void {
  app.get('/api/v5/trace/:name/log', {
    schema: {
      summary: 'Read a trace file from a byte position',
      tags: ['trace'],
      params: nameParams,
      querystring: { type: 'object', properties: { position: { type: 'integer', minimum: 0, default: 0 }, bytes: { type: 'integer', minimum: 1, maximum: 1048576, default: 1000 } } },
      responses: { 200: { type: 'object', properties: { meta: { type: 'object', properties: { position: { type: 'integer' }, bytes: { type: 'integer' } } }, items: { type: 'string' } } }, 404: errorBody },
    },
  }, async (req, reply) => {
    const t = traces.get((req.params as { name: string }).name);
    if (!t) return reply.code(404).send({ code: 'NOT_FOUND', message: 'no such trace' });
    const q = req.query as { position: number; bytes: number };
    const chunk = readChunk(t.file, q.position, q.bytes);
    return { meta: { position: q.position + chunk.length, bytes: chunk.length }, items: chunk.toString('utf8') };
  });

  app.get('/api/v5/trace/:name/download', { schema: { summary: 'The whole trace file (text/plain; EMQX sends a zip)', tags: ['trace'], params: nameParams, responses: { 404: errorBody } } }, async (req, reply) => {
    const t = traces.get((req.params as { name: string }).name);
    if (!t || t.log_size === 0) return reply.code(404).send({ code: 'NOT_FOUND', message: 'Trace is empty' });
    reply.type('text/plain; charset=utf-8').header('content-disposition', `attachment; filename=${t.name}.log`);
    return reply.send(createReadStream(t.file));
  });
}

export function traceRoutes(app: FastifyInstance, deps: RouteDeps): void {
  traceControlRoutes(app, deps);
  traceFileRoutes(app, deps);
}
