import type { SysChannel } from '../../gateway/core/adapter.ts';

export type LeafValue = string | number | boolean | null | undefined;

/**
 * One modem's retained health leaves under `$SYS/brokers/{node}/modems/{name}/` (docs/modem.md).
 * A leaf is published only when its value changes, so a subscriber sees changes, not every health
 * read; an unknown value (null, undefined) removes the leaf. Without a channel (a context built by
 * hand) nothing is published.
 */
export class SysLeaves {
  private readonly last = new Map<string, string>();

  constructor(
    private readonly sys: SysChannel | undefined,
    private readonly modem: string,
  ) {}

  set(values: Record<string, LeafValue>): void {
    for (const [leaf, v] of Object.entries(values)) {
      const payload = v === null || v === undefined ? '' : String(v);
      if ((this.last.get(leaf) ?? '') === payload) continue;
      if (payload === '') this.last.delete(leaf);
      else this.last.set(leaf, payload);
      this.sys?.publish(`${this.modem}/${leaf}`, payload);
    }
  }

  /**
   * The modem stopped (adapter stopping or restarting): `state` says so and every other leaf is
   * removed, so no subscriber reads a registration or signal the gateway no longer watches.
   */
  stopped(): void {
    const gone = Object.fromEntries([...this.last.keys()].filter((k) => k !== 'state' && k !== 'type').map((k) => [k, null]));
    this.set({ ...gone, state: 'stopped' });
  }
}
