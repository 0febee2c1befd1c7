import { Writable } from 'node:stream';
import { buildSchema } from '../../app/config.ts';
import { Gateway } from '../../app/gateway.ts';
import { validateConfig } from '../../config/load.ts';
import { createLogger } from '../../log/logger.ts';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/**
 * A real gateway on 127.0.0.1 (port 0) whose JSON log lines land in `lines`, for tests that assert
 * what an operator would read. `doc` must set gateway.data_dir (kept across restarts by the caller).
 */
export async function startCapturedGateway(doc: Record<string, unknown>, lines: LogLine[], level = 'info'): Promise<{ gw: Gateway; port: number }> {
  const dest = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as LogLine);
      cb();
    },
  });
  const full = { ...doc, broker: { ...(doc.broker as object | undefined), listeners: { tcp: { host: '127.0.0.1', port: 0 } } } };
  const config = validateConfig(buildSchema([]), full, 'test');
  const gw = new Gateway({ config, adapters: [], log: createLogger({ level: level as 'info', format: 'json', destination: dest }) });
  await gw.start();
  return { gw, port: gw.broker.ports.tcp! };
}
