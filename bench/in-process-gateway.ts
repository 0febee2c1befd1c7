import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AdapterDefinition } from '../gateway/core/adapter.ts';

// A gateway in the calling process with one adapter and a silent log, for the bench children that
// measure an adapter (coap-target.ts, tcp-bench-gateway.ts). MQTT listens on an OS-chosen port.

export async function startInProcessGateway(adapter: AdapterDefinition, adapterConfig: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const { buildSchema } = await import('../gateway/app/config.ts');
  const { Gateway } = await import('../gateway/app/gateway.ts');
  const { validateConfig } = await import('../gateway/config/load.ts');
  const { createLogger } = await import('../gateway/log/logger.ts');
  const dir = mkdtempSync(join(tmpdir(), `fieldgate-bench-${adapter.name}-`));
  const doc = {
    gateway: { data_dir: dir },
    broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } },
    log: { level: 'silent' },
    http: { enabled: false },
    ...extra,
    adapters: { [adapter.name]: { enabled: true, host: '127.0.0.1', port: 0, ...adapterConfig } },
  };
  const config = validateConfig(buildSchema([adapter]), doc, 'bench');
  const gw = new Gateway({ config, adapters: [adapter], log: createLogger({ level: 'silent', format: 'json' }) });
  await gw.start();
  return {
    gw,
    stop: async () => {
      await gw.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
