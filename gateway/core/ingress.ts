import type { IngressMessage } from './message.ts';

/**
 * A step every publish passes before it is acknowledged to its source. The bridge registers one
 * that appends the message to its durable log; it may reject (throw PublishRejected) when the log
 * refuses new messages.
 */
export type AcceptHook = (msg: IngressMessage) => Promise<void> | void;

const DONE = Promise.resolve();

/**
 * The single path every publish takes into the gateway: local MQTT clients (through aedes's
 * authorizePublish, the last hook before aedes writes the PUBACK) and adapters (through the message
 * API). "Accepted" means every hook has returned.
 */
export class Ingress {
  private hooks: { name: string; fn: AcceptHook }[] = [];

  addHook(name: string, fn: AcceptHook): () => void {
    const entry = { name, fn };
    this.hooks.push(entry);
    return () => {
      this.hooks = this.hooks.filter((h) => h !== entry);
    };
  }

  accept(msg: IngressMessage): Promise<void> {
    // Not an async function: this runs for every message, and with one hook (the bridge) its own
    // promise is all the caller needs to wait for.
    return this.run(msg, this.hooks, 0);
  }

  /** `hooks` is the list as it was when the message arrived: a hook removed meanwhile still runs for it. */
  private run(msg: IngressMessage, hooks: readonly { fn: AcceptHook }[], from: number): Promise<void> {
    try {
      for (let i = from; i < hooks.length; i++) {
        const pending = hooks[i]!.fn(msg);
        if (pending) return i === hooks.length - 1 ? pending : pending.then(() => this.run(msg, hooks, i + 1));
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return DONE;
  }

  get hookCount(): number {
    return this.hooks.length;
  }
}
