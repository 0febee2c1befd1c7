import { readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import { bindServer } from '../../gateway/core/listen.ts';

export interface ListenSpec {
  name: 'tcp' | 'tls';
  host: string;
  port: number;
  tls?: { cert_file?: string; key_file?: string; ca_file?: string; require_client_cert: boolean };
  /** TLS: a peer that has not finished the handshake by then is dropped (Node's default is 120 s). */
  handshakeTimeout?: number;
}

export interface Listener {
  readonly name: string;
  readonly port: number;
  close(): Promise<void>;
}

function readPem(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`adapters.tcp.tls.${what}: cannot read ${path}: ${(err as Error).message}`);
  }
}

/**
 * Opens one listener and hands every accepted socket (after the TLS handshake, for TLS) to
 * `onSocket`. Rejects with the address and the setting in the message when the port cannot be
 * bound, so the supervisor's log line says which port is taken. `onError` receives failures after
 * listening (gateway/core/listen.ts).
 */
export async function listen(spec: ListenSpec, onSocket: (s: Socket) => void, onError: (err: Error) => void, onTlsError?: (err: Error) => void): Promise<Listener> {
  let server: Server;
  if (spec.tls) {
    const t = spec.tls;
    server = createTlsServer({
      cert: readPem(t.cert_file, 'cert_file'),
      key: readPem(t.key_file, 'key_file'),
      ca: readPem(t.ca_file, 'ca_file'),
      requestCert: t.require_client_cert,
      rejectUnauthorized: t.require_client_cert,
      handshakeTimeout: spec.handshakeTimeout,
    });
    server.on('secureConnection', onSocket);
    // A failed handshake concerns one peer, never the listener.
    server.on('tlsClientError', (err: Error) => onTlsError?.(err));
  } else {
    server = createServer(onSocket);
  }
  const option = spec.name === 'tls' ? 'adapters.tcp.tls.port' : 'adapters.tcp.port';
  const port = await bindServer(server, { what: `tcp adapter ${spec.name.toUpperCase()} listener`, host: spec.host, port: spec.port, option, onError });
  return {
    name: spec.name,
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
