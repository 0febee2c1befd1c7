import type { Server as HttpServer } from 'node:http';
import type { Server } from 'node:net';
import { moreSuffix, RateLimitedLog } from './log-limit.ts';

// The one way a listening socket is opened (broker listeners, adapters): a bind failure becomes
// one line an operator can act on, and a server never runs without an 'error' listener. Node
// emits accept failures (EMFILE, ENFILE when the process or machine is out of descriptors) as an
// 'error' event on the listening server, which without a listener is an uncaught exception.

/** A listener that could not start, with the one line an operator needs. */
export class ListenerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ListenerError';
  }
}

export interface BindSpec {
  /** What is listening, for the lines: "MQTT TCP listener", "tcp adapter TLS listener". */
  what: string;
  host: string;
  port: number;
  /** The setting to change when the port cannot be bound, e.g. `broker.listeners.tcp.port`. */
  option: string;
  /** Added to "address already in use", e.g. "is another broker running?". */
  inUseHint?: string;
  /** Errors after the bind. The server keeps listening; the caller logs (see listenerErrorLog) or restarts. */
  onError: (err: NodeJS.ErrnoException) => void;
}

function why(err: NodeJS.ErrnoException, spec: BindSpec): string {
  switch (err.code) {
    case 'EADDRINUSE':
      return `address already in use (${spec.inUseHint ?? 'another process holds it'})`;
    case 'EACCES':
      return 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)';
    case 'EADDRNOTAVAIL':
      return 'address not available on this machine';
    default:
      return err.message;
  }
}

/**
 * Binds `server` to spec.host:spec.port. Resolves with the bound port (spec.port 0 = chosen by
 * the OS); rejects with a ListenerError "cannot start the <what> on <host>:<port>: <why>; change
 * <option>". From the bind on, every 'error' the server emits goes to spec.onError.
 */
export function bindServer(server: Server | HttpServer, spec: BindSpec): Promise<number> {
  return new Promise((resolve, reject) => {
    const onListenError = (err: NodeJS.ErrnoException) => {
      reject(new ListenerError(`cannot start the ${spec.what} on ${spec.host}:${spec.port}: ${why(err, spec)}; change ${spec.option}`));
    };
    server.once('error', onListenError);
    server.listen(spec.port, spec.host, () => {
      // The permanent handler goes on before the bind handler comes off: never a moment without one.
      server.on('error', spec.onError);
      server.off('error', onListenError);
      const addr = server.address();
      resolve(typeof addr === 'object' && addr ? addr.port : spec.port);
    });
  });
}

/**
 * An onError for bindServer that logs, at most once a minute per listener and error code, with
 * the count of the ones left out: an accept failure repeats for every connection attempt.
 */
export function listenerErrorLog(write: (fields: Record<string, unknown>, msg: string) => void, intervalMs = 60_000): (what: string, err: NodeJS.ErrnoException) => void {
  const limited = new RateLimitedLog({ intervalMs, write });
  return (what, err) => {
    const code = err.code ?? err.message;
    limited.event(`${what}\u0000${code}`, (more) => ({
      fields: { err: err.message, code: err.code },
      msg: `${what}: ${err.code === 'EMFILE' || err.code === 'ENFILE' ? 'cannot accept a connection, out of file descriptors (raise LimitNOFILE or lower the connection limits)' : `error (${code})`}; still listening${moreSuffix(more)}`,
    }));
  };
}
