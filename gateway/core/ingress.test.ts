import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Ingress } from './ingress.ts';
import { PublishRejected, type IngressMessage } from './message.ts';

const msg: IngressMessage = { topic: 't', payload: Buffer.from('x'), qos: 1, retain: false, origin: 'mqtt', clientid: 'c' };

describe('ingress', () => {
  it('runs every hook in order, waiting for each; accepted once all have returned', async () => {
    const ing = new Ingress();
    const ran: string[] = [];
    ing.addHook('a', async () => {
      await new Promise((r) => setTimeout(r, 5));
      ran.push('a');
    });
    ing.addHook('b', () => void ran.push('b'));
    ing.addHook('c', async () => void ran.push('c'));
    await ing.accept(msg);
    assert.deepEqual(ran, ['a', 'b', 'c']);
  });

  it('a hook removed while a message is between hooks still runs for that message', async () => {
    const ing = new Ingress();
    const ran: string[] = [];
    let removeA = () => {};
    removeA = ing.addHook('a', async () => {
      ran.push('a');
      removeA();
      await new Promise((r) => setTimeout(r, 1));
    });
    ing.addHook('b', () => void ran.push('b'));
    ing.addHook('c', () => void ran.push('c'));
    await ing.accept(msg);
    assert.deepEqual(ran, ['a', 'b', 'c'], 'no hook is skipped for a message already on its way');
    ran.length = 0;
    await ing.accept(msg);
    assert.deepEqual(ran, ['b', 'c']);
  });

  it('a synchronous throw or a rejection refuses the message (a rejected promise, never a throw)', async () => {
    const ing = new Ingress();
    ing.addHook('sync', () => {
      throw new PublishRejected('queue_full', 'full');
    });
    const p = ing.accept(msg);
    assert.ok(p instanceof Promise);
    await assert.rejects(p, (e: Error) => e instanceof PublishRejected && e.reason === 'queue_full');
    const later = new Ingress();
    later.addHook('ok', async () => {});
    later.addHook('no', () => {
      throw new Error('after an async hook');
    });
    await assert.rejects(later.accept(msg), /after an async hook/);
    await new Ingress().accept(msg);
  });
});
