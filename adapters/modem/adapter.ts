import type { Adapter, AdapterContext } from '../../gateway/core/adapter.ts';
import { isNbiotModem, type ModemAdapterConfig } from './config.ts';
import { ModemRuntime } from './modem.ts';
import { NbiotModem } from './nbiot/modem.ts';

/**
 * The serial modem adapter: LoRa P2P modules (RAK3172 with RUI3, RN2483) and NB-IoT modules
 * (BC95 family, BG96 family) on UART or USB serial ports (docs/modem.md). Each configured modem runs on its own; one whose port is missing or whose
 * module hangs is retried in the background and never holds up the others or the gateway.
 */
export class ModemAdapter implements Adapter {
  private modems: (ModemRuntime | NbiotModem)[] = [];
  /** Its devices are registered as lora/{node} and nbiot/{address}, not modem/...: DELETE /api/v5/devices/lora/{node} finds this adapter. */
  readonly protocols = ['lora', 'nbiot'];

  constructor(private readonly cfg: ModemAdapterConfig) {}

  async start(ctx: AdapterContext): Promise<void> {
    // Built first, so a bad decoder script or frequency fails the start with its message before any port opens.
    const modems = this.cfg.modems.map((m) => (isNbiotModem(m) ? new NbiotModem(m, ctx) : new ModemRuntime(m, ctx)));
    this.modems = modems;
    try {
      for (const m of modems) await m.start();
    } catch (err) {
      await this.stop();
      throw err;
    }
    ctx.log.info({ modems: this.cfg.modems.map((m) => `${m.name}=${m.type}@${m.path}`) }, 'modem adapter started');
  }

  /**
   * A LoRa node (fieldgate frames) is kicked by forgetting its frame counter. A modem itself and
   * NB-IoT peers have no session to end: false.
   */
  async disconnect(id: string, reason: string): Promise<boolean> {
    return this.modems.some((m) => m instanceof ModemRuntime && m.disconnect(id, reason));
  }

  async stop(): Promise<void> {
    const modems = this.modems;
    this.modems = [];
    await Promise.all(modems.map((m) => m.stop()));
  }
}
