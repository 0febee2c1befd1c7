import { createWriteStream, mkdirSync, rmSync, statSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import mqttPacket, { type Packet } from 'mqtt-packet';
import type { ClientSession } from '../broker/broker.ts';
import type { DeliveredMessage } from '../core/message.ts';
import { topicMatches } from '../core/topic.ts';
import type { Logger } from '../log/logger.ts';
import type { ClientTracker, TrackedClient } from '../http/clients.ts';
import { describeMessage, describePacket, type PayloadEncode } from './format.ts';

export type TraceType = 'clientid' | 'topic';

export interface TraceSpec {
  name: string;
  type: TraceType;
  /** The clientid or the topic filter. */
  filter: string;
  startAt: number;
  endAt: number;
  payloadEncode: PayloadEncode;
}

export interface TraceInfo extends TraceSpec {
  status: 'running' | 'stopped';
  file: string;
  log_size: number;
  /** Lines not written because the file reached its size bound. */
  skipped: number;
}

export class TraceError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

export interface TraceSources {
  clients: ClientTracker;
  subscribe(filter: string, onMessage: (m: DeliveredMessage) => void): Promise<() => Promise<void>>;
}

const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,255}$/;

class Trace {
  status: 'running' | 'stopped' = 'running';
  written = 0;
  skipped = 0;
  private out?: WriteStream;
  private timer?: NodeJS.Timeout;
  readonly cleanup: (() => void | Promise<void>)[] = [];

  constructor(readonly spec: TraceSpec, readonly file: string, private readonly maxBytes: number) {}

  open(onEnd: () => void): void {
    this.out = createWriteStream(this.file, { flags: 'a' });
    this.out.on('error', () => {
      this.skipped++;
    });
    this.timer = setTimeout(onEnd, Math.max(0, this.spec.endAt - Date.now()));
    this.timer.unref();
  }

  line(who: string, text: string): void {
    if (this.status !== 'running' || !this.out) return;
    const l = `${new Date().toISOString()} [${who}] ${text}\n`;
    const n = Buffer.byteLength(l);
    if (this.written + n > this.maxBytes) {
      this.skipped++;
      return;
    }
    this.written += n;
    this.out.write(l);
  }

  async stop(): Promise<void> {
    if (this.status === 'stopped') return;
    clearTimeout(this.timer);
    for (const c of this.cleanup.splice(0)) await c();
    if (this.skipped) {
      // Past the bound, but one short line saying so is worth more than the bound's last bytes.
      this.out?.write(`${new Date().toISOString()} [trace] ${this.skipped} more lines not written: the file reached http.trace.max_file_size\n`);
    }
    this.status = 'stopped';
    const out = this.out;
    this.out = undefined;
    if (out) await new Promise<void>((r) => out.end(() => r()));
  }

  info(): TraceInfo {
    let size = this.written;
    try {
      size = statSync(this.file).size;
    } catch {
      // deleted by hand: report what we wrote
    }
    return { ...this.spec, status: this.status, file: this.file, log_size: size, skipped: this.skipped };
  }
}

/**
 * EMQX-style traces: every MQTT packet of one client (read from and written to its connection,
 * decoded), or every message on a topic filter from any protocol, with timestamps, to a file under
 * `<data_dir>/trace/`, bounded in size. Traces end at their end time, on stop, or at shutdown; the
 * files stay until the trace is deleted.
 */
export class TraceManager {
  private readonly traces = new Map<string, Trace>();
  readonly dir: string;

  constructor(dataDir: string, private readonly sources: TraceSources, private readonly opts: { maxFileSize: number; maxTraces: number }, private readonly log: Logger) {
    this.dir = join(dataDir, 'trace');
  }

  list(): TraceInfo[] {
    return [...this.traces.values()].map((t) => t.info()).sort((a, b) => b.startAt - a.startAt);
  }

  get(name: string): TraceInfo | undefined {
    return this.traces.get(name)?.info();
  }

  async start(spec: TraceSpec): Promise<TraceInfo> {
    if (!NAME.test(spec.name)) throw new TraceError(400, 'INVALID_PARAMS', `invalid trace name "${spec.name}": a letter, then letters, digits, "_" or "-"`);
    if (this.traces.has(spec.name)) throw new TraceError(409, 'ALREADY_EXISTS', `a trace named ${spec.name} exists`);
    if (spec.endAt <= spec.startAt) throw new TraceError(400, 'INVALID_PARAMS', 'end_at must be after start_at');
    for (const t of this.traces.values()) {
      if (t.status === 'running' && t.spec.type === spec.type && t.spec.filter === spec.filter) throw new TraceError(409, 'DUPLICATE_CONDITION', `trace ${t.spec.name} already traces ${spec.type} ${spec.filter}`);
    }
    if (this.traces.size >= this.opts.maxTraces) throw new TraceError(400, 'INVALID_PARAMS', `The number of traces created has reached the maximum (${this.opts.maxTraces}); delete one first`);
    mkdirSync(this.dir, { recursive: true });
    const trace = new Trace(spec, join(this.dir, `${spec.name}.log`), this.opts.maxFileSize);
    this.traces.set(spec.name, trace);
    trace.open(() => void this.stop(spec.name));
    if (spec.type === 'clientid') this.traceClient(trace);
    else await this.traceTopic(trace);
    this.log.info({ trace: spec.name, type: spec.type, filter: spec.filter, file: trace.file }, 'trace started');
    return trace.info();
  }

  private traceClient(trace: Trace): void {
    const id = trace.spec.filter;
    const enc = trace.spec.payloadEncode;
    const attach = (t: TrackedClient) => {
      const s = t.session;
      if (s.clientid !== id || !t.client) return;
      const who = `${id}@${s.ipaddress ?? '?'}`;
      trace.line(who, `connected: ProtoName=${s.proto_name}, ProtoVer=${s.proto_ver}, Username=${s.username ?? 'undefined'}, KeepAlive=${s.keepalive}, CleanStart=${s.clean_start}, Listener=${s.listener ?? 'tcp'}`);
      trace.cleanup.push(tap(t.client.conn, (dir, p) => trace.line(who, `${dir} ${describePacket(p, enc)}`)));
    };
    const gone = (s: ClientSession, reason: string) => {
      if (s.clientid === id) trace.line(`${id}@${s.ipaddress ?? '?'}`, `disconnected: reason=${reason}`);
    };
    const current = this.sources.clients.get(id);
    if (current?.connected) attach(current);
    this.sources.clients.on('ready', attach);
    this.sources.clients.on('gone', gone);
    trace.cleanup.push(() => {
      this.sources.clients.off('ready', attach);
      this.sources.clients.off('gone', gone);
    });
  }

  private async traceTopic(trace: Trace): Promise<void> {
    const enc = trace.spec.payloadEncode;
    const filter = trace.spec.filter;
    const unsubscribe = await this.sources.subscribe(filter, (m) => {
      if (topicMatches(filter, m.topic)) trace.line(`topic ${filter}`, describeMessage(m, enc));
    });
    trace.cleanup.push(unsubscribe);
  }

  async stop(name: string): Promise<TraceInfo> {
    const t = this.traces.get(name);
    if (!t) throw new TraceError(404, 'NOT_FOUND', `no trace named ${name}`);
    await t.stop();
    return t.info();
  }

  async delete(name: string): Promise<void> {
    const t = this.traces.get(name);
    if (!t) throw new TraceError(404, 'NOT_FOUND', `no trace named ${name}`);
    await t.stop();
    this.traces.delete(name);
    rmSync(t.file, { force: true });
  }

  async deleteAll(): Promise<void> {
    for (const name of [...this.traces.keys()]) await this.delete(name);
  }

  async close(): Promise<void> {
    for (const t of this.traces.values()) await t.stop();
  }
}

/**
 * Decodes what a connection reads and writes with a parser of its own. Reads: a 'data' listener
 * (aedes pulls with read(), so it sees exactly what aedes parses). Writes: the connection's write
 * is wrapped on this instance while the trace runs, and restored after.
 */
function tap(conn: Duplex, onPacket: (dir: 'IN' | 'OUT', p: Packet) => void): () => void {
  const inParser = mqttPacket.parser();
  const outParser = mqttPacket.parser();
  inParser.on('packet', (p: Packet) => onPacket('IN', p));
  outParser.on('packet', (p: Packet) => onPacket('OUT', p));
  // A frame the tap cannot decode is the broker's business (it closes the connection), not the trace's.
  inParser.on('error', () => {});
  outParser.on('error', () => {});
  const onData = (chunk: Buffer) => inParser.parse(chunk);
  conn.on('data', onData);
  const write = conn.write;
  const wrapped = function (this: Duplex, chunk: unknown, ...rest: unknown[]): boolean {
    if (Buffer.isBuffer(chunk)) outParser.parse(chunk);
    else if (typeof chunk === 'string') outParser.parse(Buffer.from(chunk));
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  };
  conn.write = wrapped as Duplex['write'];
  return () => {
    conn.off('data', onData);
    if (conn.write === wrapped) conn.write = write;
  };
}
