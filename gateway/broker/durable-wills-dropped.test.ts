import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { Writable } from 'node:stream';
import { buildSchema } from '../app/config.ts';
import { AuthService } from '../auth/service.ts';
import { validateConfig } from '../config/load.ts';
import { Ingress } from '../core/ingress.ts';
import { PublishRejected } from '../core/message.ts';
import { createLogger } from '../log/logger.ts';
import { Metrics } from '../metrics/metrics.ts';
import { tempDir } from '../test/helpers.ts';
import { Broker } from './broker.ts';
import { DurablePersistence } from './durable-persistence.ts';

// A restored will that is not published (the ACL denies it, it has no owner on disk, or an ingress
// hook refuses it) is counted as a refused live publish is: messages/dropped, and for the ACL's
// refusals messages/dropped/not_authorized; one log line each.

const quiet = { info: () => {}, warn: () => {}, error: () => {} };

async function journalWills(dir: string): Promise<void> {
  const store = new DurablePersistence({ dir, log: quiet as never, maxQueued: 100, maxSessionBytes: 1 << 20, maxTotalBytes: 1 << 20, onDrop: () => {} });
  await store.setup({ id: 'fieldgate' });
  const will = (topic: string) => ({ cmd: 'publish' as const, topic, payload: Buffer.from('gone'), qos: 1, retain: false });
  await store.putWill({ id: 'no-owner', clean: false }, will('ok/no-owner')); // as an older version wrote it
  store.wills.owner = () => ({ ipaddress: '10.0.0.7', listener: 'tcp' });
  await store.putWill({ id: 'denied', clean: false }, will('denied/x'));
  await store.putWill({ id: 'refused', clean: false }, will('full/x'));
  await store.putWill({ id: 'fine', clean: false }, will('ok/fine'));
  await store.close();
}

test('restored wills that are not published are counted in messages/dropped (and .../not_authorized for the ACL)', async () => {
  const tmp = tempDir('fieldgate-will-drops-');
  const lines: { msg: string; clientid?: string }[] = [];
  const dest = new Writable({ write: (chunk: Buffer, _e, cb) => (lines.push(...chunk.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l))), cb()) });
  try {
    const dir = join(tmp.path, 'broker');
    await journalWills(dir);
    const config = validateConfig(
      buildSchema([]),
      { broker: { listeners: { tcp: { host: '127.0.0.1', port: 0 } } }, auth: { acl_nomatch: 'allow', acl: [{ permission: 'deny', action: 'publish', topics: ['denied/#'] }] } },
      'test',
    );
    const ingress = new Ingress();
    ingress.addHook('full', (msg) => {
      if (msg.topic.startsWith('full/')) throw new PublishRejected('queue_full', 'the log is full');
    });
    const metrics = new Metrics();
    const broker = new Broker({ cfg: config.broker, auth: new AuthService(config.auth), ingress, metrics, log: createLogger({ level: 'info', format: 'json', destination: dest }), dataDir: dir });
    await broker.start();
    try {
      assert.equal(await broker.publishRestoredWills(), 1);
      const m = metrics.snapshot();
      assert.equal(m['messages/dropped'], 3);
      assert.equal(m['messages/dropped/not_authorized'], 2);
      assert.equal(m['messages/received'], 1);
      const willLines = (id: string) => lines.filter((l) => l.clientid === id && l.msg.startsWith('will of a persistent session')).length;
      assert.deepEqual(['no-owner', 'denied', 'refused', 'fine'].map(willLines), [1, 1, 1, 0]);
    } finally {
      await broker.stop();
    }
  } finally {
    tmp.remove();
  }
});
