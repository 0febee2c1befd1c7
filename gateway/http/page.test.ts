import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { coapAdapter } from '../../adapters/coap/index.ts';
import { connect, startGateway, until } from '../test/helpers.ts';
import { missingTool } from '../test/tools.ts';
import { startApiGateway } from './test/support.ts';

// The status page in a real browser against a running gateway: what a person sees, on a phone.

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Screenshots land here (gitignored); FIELDGATE_DOCS_SCREENSHOT=1 also refreshes the one in docs/. */
const ARTIFACTS = join(ROOT, 'test-artifacts');
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

describe('status page', () => {
  test('shows the gateway, adapters, bridge, clients, devices and a live tail (ACL applied)', async (t) => {
    const missing = missingTool('chromium', 'chromium') ?? missingTool('coap-client-notls', 'libcoap3-bin');
    if (missing) return t.skip(missing);
    const cloud = await startGateway();
    const g = await startApiGateway({
      gateway: { id: 'barn-pi' },
      auth: { acl: [{ permission: 'deny', action: 'subscribe', topics: ['secret/#'] }] },
      adapters: { coap: { enabled: true, port: 0, host: '127.0.0.1', ipv6: { enabled: false } } },
      bridge: {
        upstreams: [
          { name: 'cloud', servers: [cloud.url], protocol_version: 4, status: false, forward: [{ local: 'sensors/#' }] },
          { name: 'backup', servers: ['mqtt://127.0.0.1:1'], protocol_version: 4, status: false, backoff: { initial: '200ms', max: '1s' }, forward: [{ local: 'alarms/#' }] },
        ],
      },
    }, [coapAdapter]);
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ARGS });
    try {
      const coapPort = g.gw.adapterPorts('coap').udp;
      await promisify(execFile)('coap-client-notls', ['-m', 'post', '-e', '{"t":21.5}', `coap://127.0.0.1:${coapPort}/ps/sensors/th-1/temp?c=th-1`]);
      const mqtt = await connect(g.url, { clientId: 'kitchen-display' });
      await until(() => g.gw.bridge.health().find((u) => u.name === 'cloud')?.connected === true, 'the cloud upstream connected');

      const page = await browser.newPage({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
      await page.goto(g.api);
      await page.getByRole('heading', { level: 1, name: 'barn-pi' }).waitFor();
      assert.match(await page.locator('#meta').innerText(), /^fieldgate \d+\.\d+\.\d+ · up \d+s/);
      const adapters = page.locator('#adapters tbody tr');
      await adapters.filter({ hasText: 'coap' }).filter({ hasText: 'running' }).waitFor();
      // The HTTP API is a supervised component: listed with its health, apart from the adapters.
      await page.locator('#components tbody tr', { hasText: 'http' }).filter({ hasText: 'running' }).waitFor();
      assert.equal(await adapters.filter({ hasText: 'http' }).count(), 0);
      await page.locator('#clients tbody tr', { hasText: 'kitchen-display' }).filter({ hasText: 'connected' }).waitFor();
      await page.locator('#devices tbody tr', { hasText: 'th-1' }).filter({ hasText: 'coap' }).waitFor();
      const cloudCard = page.locator('.upstream[data-upstream="cloud"]');
      await cloudCard.getByText('connected', { exact: true }).waitFor();
      assert.match(await cloudCard.innerText(), new RegExp(`to mqtt://127\\.0\\.0\\.1:${cloud.port}`));
      const backup = page.locator('.upstream[data-upstream="backup"]');
      await backup.getByText('disconnected', { exact: true }).waitFor();
      await backup.getByText(/last error: .*connection refused/).waitFor();

      // Traffic the bridge forwards: the cloud card's sparkline rises above its baseline.
      for (let i = 0; i < 20; i++) await mqtt.publishAsync('sensors/kitchen/temp', String(20 + i), { qos: 1 });
      await until(async () => {
        const points = (await cloudCard.locator('polyline').getAttribute('points')) ?? '';
        const ys = points.split(' ').map((p) => Number(p.split(',')[1]));
        return ys.length >= 3 && ys.some((y) => y < 19);
      }, 'the sparkline shows the forwarded messages', 20_000);
      await cloudCard.getByText(/^forwarded (2\d|1\d)\b/).waitFor();
      assert.match(await page.locator('#bridge .queue').innerText(), /^log: \d+ messages waiting \(.*\), oldest /);

      // The live tail: type a filter, see a message that arrives after.
      await page.getByLabel('Topic filter').fill('sensors/#');
      await page.getByRole('button', { name: 'Watch' }).click();
      await page.getByText('watching sensors/#').waitFor();
      await mqtt.publishAsync('sensors/room1/temp', '21.5', { qos: 1 });
      const line = page.locator('#tail li', { hasText: 'sensors/room1/temp' });
      await line.waitFor();
      assert.match(await line.innerText(), /sensors\/room1\/temp 21\.5/);

      mkdirSync(ARTIFACTS, { recursive: true });
      const shot = join(ARTIFACTS, 'status-page-phone.png');
      await page.screenshot({ path: shot, fullPage: true });
      if (process.env.FIELDGATE_DOCS_SCREENSHOT === '1') copyFileSync(shot, join(ROOT, 'docs', 'status-page.png'));

      // A filter the ACL does not allow is refused, and the page says so.
      await page.getByRole('button', { name: 'Stop' }).click();
      await page.getByLabel('Topic filter').fill('secret/#');
      await page.getByRole('button', { name: 'Watch' }).click();
      await page.getByText(/stopped: the gateway refused secret\/#/).waitFor();

      const desktop = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      await desktop.goto(g.api);
      await desktop.locator('#clients tbody tr', { hasText: 'kitchen-display' }).waitFor();
      await desktop.screenshot({ path: join(ARTIFACTS, 'status-page-desktop.png'), fullPage: true });
      await mqtt.endAsync();
    } finally {
      await browser.close();
      await g.stop();
      await cloud.stop();
    }
  });
});
