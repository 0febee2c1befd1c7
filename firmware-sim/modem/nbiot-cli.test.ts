import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { startModemGateway, type ModemTestGateway } from '../../adapters/modem/test-kit.ts';
import { tempDir, until } from '../../gateway/test/helpers.ts';
import { missingTool } from '../../gateway/test/tools.ts';

// `npm run sim -- nbiot` end to end: the CLI's emulated module on a pty and its CoAP meter, a
// gateway started from the YAML the CLI prints, a reading published on MQTT and a downlink back.

const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
const skip = missingTool('socat', 'socat');

interface Printed {
  auth: { acl: Record<string, unknown>[] };
  adapters: { modem: { modems: Record<string, unknown>[] } };
}

for (const type of ['bc95', 'bg96'] as const) {
  describe(`npm run sim -- nbiot --type ${type}`, { skip }, () => {
    const dir = tempDir('fieldgate-nbiot-cli-');
    let g: ModemTestGateway | undefined;
    after(async () => {
      await g?.stop();
      dir.remove();
    });

    test('the printed config runs a gateway; the meter\'s readings arrive on MQTT, a command reaches it, and SIGTERM exits 0', async () => {
      const link = join(dir.path, 'tty-nb0');
      // --duration: a safety net so a failed run leaves no process behind; the test ends it with SIGTERM.
      const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'nbiot', '--type', type, '--interval', '0.2', '--meter', 'meter-7', '--link', link, '--duration', '120'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const exited = new Promise<number | null>((r) => child.on('close', r));
      try {
        await until(() => /\n\n[\s\S]*\n\n/.test(out), 'the config sections printed', 30_000);
        assert.match(out, new RegExp(`^simulated ${type} on ${link.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; meter meter-7 sends a reading every 0.2 s`));
        const printed = parseYaml(out.split('\n\n')[1] ?? '') as Printed;
        const modems = printed.adapters.modem.modems;
        assert.equal(modems[0]?.path, link);
        assert.equal(modems[0]?.type, type);
        g = await startModemGateway(modems, ['meters/#'], { adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } } }, acl: printed.auth.acl, anonymous: 'always' });
        const gw = g;
        const readings = () => gw.got.filter((m) => m.topic === 'meters/meter-7/reading');
        await until(() => readings().length >= 2, 'two readings on meters/meter-7/reading', 30_000);
        assert.equal(typeof readings()[0]?.body.kwh, 'number');
        assert.ok((readings()[1]?.body.n as number) > (readings()[0]?.body.n as number), 'readings in order');
        await until(() => /meter-7 observe meters\/meter-7\/cmd: 2\.05/.test(out), 'the meter observing its command topic', 30_000);
        await gw.mq.publishAsync('meters/meter-7/cmd', 'valve=closed', { qos: 1 });
        await until(() => /meter-7 downlink: valve=closed/.test(out), 'the command printed by the meter', 30_000);
      } finally {
        child.kill('SIGTERM');
      }
      assert.equal(await exited, 0, out);
    });
  });
}
