import { readFileSync } from 'node:fs';
import type { Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { BrokerConfig } from '../config/schema.ts';
import { bindServer, ListenerError } from '../core/listen.ts';

export { ListenerError } from '../core/listen.ts';

export interface ConnInfo {
  listener: 'tcp' | 'tls' | 'ws';
  ipaddress?: string;
  sockport?: number;
  /** The client's own port (the far end of the connection), for log lines like Mosquitto's. */
  peerport?: number;
}

export type ConnectionHandler = (stream: Duplex, info: ConnInfo) => void;

/** Errors a listener reports after it is bound (EMFILE on accept...); it keeps listening. */
export type ListenerErrorHandler = (what: string, err: NodeJS.ErrnoException) => void;

export interface RunningListener {
  name: ConnInfo['listener'];
  host: string;
  port: number;
  /** The listening server (tests emit what Node would on an accept failure). */
  server: Server | HttpServer;
  close(): Promise<void>;
}

type Listeners = BrokerConfig['listeners'];

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ListenerError(`cannot read ${option} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message} (check the path and that the fieldgate user may read it)`);
  }
}

/**
 * `sockport` is the listener's bound port, which every connection it accepts has as its local
 * port: reading the socket's localPort would keep a getsockname() result object on each of them.
 */
function socketInfo(listener: ConnInfo['listener'], s: Socket, server: Server): ConnInfo {
  return { listener, ipaddress: s.remoteAddress, sockport: (server.address() as AddressInfo | null)?.port, peerport: s.remotePort };
}

/** Keeps the open sockets of `server` (on `event`) so close() can end them. */
function track(server: Server | HttpServer, event: 'connection' | 'secureConnection'): Set<Socket> {
  const sockets = new Set<Socket>();
  // One 'close' listener for all of them (`this`: the socket), not a closure per connection.
  const forget = function (this: Socket) {
    sockets.delete(this);
  };
  server.on(event, (s: Socket) => {
    sockets.add(s);
    s.on('close', forget);
  });
  return sockets;
}

/** Binds `server` and returns the running listener; close() stops accepting and ends every socket. */
async function run(name: ConnInfo['listener'], label: string, host: string, port: number, server: Server | HttpServer, sockets: Set<Socket>, onError: ListenerErrorHandler, extraClose?: () => void): Promise<RunningListener> {
  const what = `MQTT ${label} listener`;
  let bound = port;
  bound = await bindServer(server, { what, host, port, option: `broker.listeners.${name}.port`, inUseHint: 'is another broker running?', onError: (err) => onError(`${what} on ${host}:${bound}`, err) });
  return {
    name,
    host,
    port: bound,
    server,
    close: async () => {
      extraClose?.();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/**
 * Nagle off on every MQTT connection (as EMQX does; Mosquitto's set_tcp_nodelay). The broker
 * coalesces a busy connection's writes itself (write-path.ts), and with Nagle on, a second small
 * write in a turn (two PUBACKs for two PUBLISH read together) waits for the client's delayed ACK,
 * which then rides on its next PUBLISH: at 1,000 msg/s every later PUBACK came 1 ms late.
 */
const NO_DELAY = { noDelay: true } as const;

function startTcp(cfg: Listeners['tcp'], onConnection: ConnectionHandler, onError: ListenerErrorHandler): Promise<RunningListener> {
  const server: Server = createTcpServer(NO_DELAY, (s) => onConnection(s, socketInfo('tcp', s, server)));
  return run('tcp', 'TCP', cfg.host, cfg.port, server, track(server, 'connection'), onError);
}

// node:tls, node:http and ws load only when their listener is on: a broker on MQTT over TCP alone
// (the default) does not hold them in memory (issue 19).
async function startTls(t: Listeners['tls'], onConnection: ConnectionHandler, onError: ListenerErrorHandler): Promise<RunningListener> {
  const { createServer: createTlsServer } = await import('node:tls');
  const server = createTlsServer(
    {
      ...NO_DELAY,
      cert: readPem('broker.listeners.tls.cert_file', t.cert_file!),
      key: readPem('broker.listeners.tls.key_file', t.key_file!),
      ca: t.ca_file ? readPem('broker.listeners.tls.ca_file', t.ca_file) : undefined,
      requestCert: t.require_client_cert,
      rejectUnauthorized: t.require_client_cert,
    },
    (s) => onConnection(s, socketInfo('tls', s, server)),
  );
  return run('tls', 'TLS', t.host, t.port, server, track(server, 'secureConnection'), onError);
}

async function startWs(w: Listeners['ws'], onConnection: ConnectionHandler, onError: ListenerErrorHandler): Promise<RunningListener> {
  const [{ createServer: createHttpServer }, { WebSocketServer, createWebSocketStream }] = await Promise.all([import('node:http'), import('ws')]);
  const http = createHttpServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: connect to ws://<host>:${w.port}${w.path}\n`);
  });
  const sockets = track(http, 'connection');
  const wss = new WebSocketServer({ server: http, path: w.path });
  // ws forwards every 'error' of the HTTP server to the WebSocketServer, where nobody listened:
  // a taken port was an uncaught EADDRINUSE. bindServer handles them on the HTTP server itself.
  wss.on('error', () => {});
  wss.on('connection', (ws, req) => {
    const stream = createWebSocketStream(ws);
    // A socket error is reported by the stream; swallow it here so one bad client is not an uncaught error.
    stream.on('error', () => {});
    onConnection(stream, { listener: 'ws', ipaddress: req.socket.remoteAddress, sockport: req.socket.localPort, peerport: req.socket.remotePort });
  });
  return run('ws', 'WebSocket', w.host, w.port, http, sockets, onError, () => wss.close());
}

/** Starts the enabled listeners; on any failure the ones already started are closed again. */
export async function startListeners(cfg: Listeners, onConnection: ConnectionHandler, onError: ListenerErrorHandler): Promise<RunningListener[]> {
  const running: RunningListener[] = [];
  try {
    if (cfg.tcp.enabled) running.push(await startTcp(cfg.tcp, onConnection, onError));
    if (cfg.tls.enabled) running.push(await startTls(cfg.tls, onConnection, onError));
    if (cfg.ws.enabled) running.push(await startWs(cfg.ws, onConnection, onError));
  } catch (err) {
    await Promise.all(running.map((l) => l.close()));
    throw err;
  }
  return running;
}
