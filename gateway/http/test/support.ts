import { networkInterfaces } from 'node:os';
import type { AdapterDefinition } from '../../core/adapter.ts';
import { ApiKeyStore } from '../apikeys.ts';
import { startGateway, type TestGateway } from '../../test/helpers.ts';

export interface ApiGateway extends TestGateway {
  api: string;
  httpPort: number;
  /** `Basic ...` for a key made in this gateway's data directory. */
  auth: string;
  key: { key: string; secret: string };
}

type Doc = Record<string, unknown>;

/** A real gateway with the HTTP API on (all addresses, OS-chosen port) and one API key. */
export async function startApiGateway(doc: Doc = {}, adapters: AdapterDefinition[] = []): Promise<ApiGateway> {
  const http = (doc.http ?? {}) as Doc;
  const g = await startGateway({ ...doc, http: { enabled: true, host: '0.0.0.0', port: 0, ...http } }, adapters);
  const port = g.gw.services.get('http/api')?.port;
  if (!port) throw new Error('the HTTP API did not start');
  const k = new ApiKeyStore(g.dataDir).create('tests');
  return { ...g, api: `http://127.0.0.1:${port}`, httpPort: port, auth: `Basic ${Buffer.from(`${k.key}:${k.secret}`).toString('base64')}`, key: k };
}

/** An address of this machine that is not loopback, to play a remote caller; undefined if none. */
export function nonLoopbackAddress(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return undefined;
}

export async function json(res: Response): Promise<any> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`not JSON (${res.status}): ${text.slice(0, 200)}`);
  }
}
