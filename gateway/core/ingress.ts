import type { IngressMessage } from './message.ts';

/**
 * A step every publish passes before it is acknowledged to its source. The bridge registers one
 * that appends the message to its durable log; it may reject (throw PublishRejected) when the log
 * refuses new messages.
 */
export type AcceptHook = (msg: IngressMessage) => Promise<void> | void;

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

  async accept(msg: IngressMessage): Promise<void> {
    for (const h of this.hooks) await h.fn(msg);
  }

  get hookCount(): number {
    return this.hooks.length;
  }
}
