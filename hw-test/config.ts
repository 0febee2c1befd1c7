import { builtinAdapters } from '../gateway/app/adapters.ts';

/**
 * A gateway config for tests that run the real CLI or bundle: MQTT on 127.0.0.1 with an
 * OS-chosen port, data in `dataDir`, JSON logs, and every built-in adapter off, so a test never
 * binds a protocol's fixed port (CoAP's 5683, ...) that a parallel test or a running gateway holds.
 * The HTTP API is off unless `http` is true (then `extra` may hold an `http:` section). `extra` is
 * appended as more top-level YAML.
 */
export function testConfigYaml(dataDir: string, opts: { port?: number; extra?: string; http?: boolean } = {}): string {
  const adapters = builtinAdapters.length ? `adapters:\n${builtinAdapters.map((a) => `  ${a.name}:\n    enabled: false\n`).join('')}` : '';
  return `gateway:\n  data_dir: ${dataDir}\nlog:\n  format: json\nbroker:\n  listeners:\n    tcp:\n      host: 127.0.0.1\n      port: ${opts.port ?? 0}\n${opts.http ? '' : 'http:\n  enabled: false\n'}${adapters}${opts.extra ?? ''}`;
}
