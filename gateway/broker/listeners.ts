import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { BrokerConfig } from '../config/schema.ts';

export interface ConnInfo {
  listener: 'tcp' | 'tls' | 'ws';
  ipaddress?: string;
  sockport?: number;
  /** The client's own port (the far end of the connection), for log lines like Mosquitto's. */
  peerport?: number;
}

export type ConnectionHandler = (stream: Duplex, info: ConnInfo) => void;

/** A listener that could not start, with the one line an operator needs. */
export class ListenerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenerError';
  }
}

export interface RunningListener {
  name: ConnInfo['listener'];
  host: string;
  port: number;
  close(): Promise<void>;
}

function readPem(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ListenerError(`cannot read ${option} ${path}: ${e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.message} (check the path and that the fieldgate user may read it)`);
  }
}

function listen(server: Server | HttpServer, name: string, option: string, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const why =
        err.code === 'EADDRINUSE' ? 'address already in use (is another broker running?)' :
        err.code === 'EACCES' ? 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)' :
        err.code === 'EADDRNOTAVAIL' ? 'address not available on this machine' : err.message;
      reject(new ListenerError(`cannot start the MQTT ${name} listener on ${host}:${port}: ${why}; change ${option}`));
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : port);
    });
  });
}

function closeServer(server: Server | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function socketInfo(listener: ConnInfo['listener'], s: Socket): ConnInfo {
  return { listener, ipaddress: s.remoteAddress, sockport: s.localPort, peerport: s.remotePort };
}

/** Starts the enabled listeners; on any failure the ones already started are closed again. */
export async function startListeners(cfg: BrokerConfig['listeners'], onConnection: ConnectionHandler): Promise<RunningListener[]> {
  const running: RunningListener[] = [];
  const track = (server: Server | HttpServer): Set<Socket> => {
    const sockets = new Set<Socket>();
    server.on('connection', (s: Socket) => {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    });
    return sockets;
  };
  const stopper = (server: Server | HttpServer, sockets: Set<Socket>, extra?: () => void) => async () => {
    extra?.();
    const closed = closeServer(server);
    for (const s of sockets) s.destroy();
    await closed;
  };
  try {
    if (cfg.tcp.enabled) {
      const server = createTcpServer((s) => onConnection(s, socketInfo('tcp', s)));
      const sockets = track(server);
      const port = await listen(server, 'TCP', 'broker.listeners.tcp.port', cfg.tcp.host, cfg.tcp.port);
      running.push({ name: 'tcp', host: cfg.tcp.host, port, close: stopper(server, sockets) });
    }
    if (cfg.tls.enabled) {
      const t = cfg.tls;
      const server = createTlsServer(
        {
          cert: readPem('broker.listeners.tls.cert_file', t.cert_file!),
          key: readPem('broker.listeners.tls.key_file', t.key_file!),
          ca: t.ca_file ? readPem('broker.listeners.tls.ca_file', t.ca_file) : undefined,
          requestCert: t.require_client_cert,
          rejectUnauthorized: t.require_client_cert,
        },
        (s) => onConnection(s, socketInfo('tls', s)),
      );
      const sockets = new Set<Socket>();
      server.on('secureConnection', (s) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      const port = await listen(server, 'TLS', 'broker.listeners.tls.port', t.host, t.port);
      running.push({ name: 'tls', host: t.host, port, close: stopper(server, sockets) });
    }
    if (cfg.ws.enabled) {
      const w = cfg.ws;
      const http = createHttpServer((_req, res) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end(`MQTT over WebSocket: connect to ws://<host>:${w.port}${w.path}\n`);
      });
      const sockets = track(http);
      const wss = new WebSocketServer({ server: http, path: w.path });
      wss.on('connection', (ws, req) => {
        const stream = createWebSocketStream(ws);
        // A socket error is reported by the stream; swallow it here so one bad client is not an uncaught error.
        stream.on('error', () => {});
        onConnection(stream, { listener: 'ws', ipaddress: req.socket.remoteAddress, sockport: req.socket.localPort, peerport: req.socket.remotePort });
      });
      const port = await listen(http, 'WebSocket', 'broker.listeners.ws.port', w.host, w.port);
      running.push({ name: 'ws', host: w.host, port, close: stopper(http, sockets, () => wss.close()) });
    }
  } catch (err) {
    await Promise.all(running.map((l) => l.close()));
    throw err;
  }
  return running;
}
