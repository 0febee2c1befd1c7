import type { Logger } from '../../log/logger.ts';
import type { BanList } from '../../limits/banned.ts';
import type { TraceManager } from '../../trace/manager.ts';
import type { HttpConfig } from '../config.ts';
import type { OpsView } from '../view.ts';

/** What every route module is given. */
export interface RouteDeps {
  view: OpsView;
  bans: BanList;
  traces: TraceManager;
  cfg: HttpConfig;
  log: Logger;
}
