import { PublishRejected } from '../core/message.ts';
import type { QueueConfig } from './config.ts';
import type { LaneName } from './consumer.ts';
import type { DropLog } from './drops.ts';
import type { LaneStore, Pos } from './store.ts';

// The queue bound (`queue.max_bytes`) and what gives way when it is reached (`queue.policy`).

export interface RoomDeps {
  queue: QueueConfig;
  lanes: Record<LaneName, LaneStore>;
  /** The oldest position some upstream still needs in a lane. */
  floor(name: LaneName): Pos;
  drops: DropLog;
}

/** Bytes both lanes hold (a function of its own: a closure here cost an allocation per publish). */
function total(lanes: RoomDeps['lanes']): number {
  return lanes.high.bytes + lanes.normal.bytes;
}

/**
 * Makes room for `bytes` more in the lanes, or throws PublishRejected. Acknowledged segments go
 * first; then `reject_new` refuses the message, `drop_oldest` drops the oldest segment of the
 * normal lane (the priority lane only when the normal one has nothing left to drop).
 */
export function makeRoom(deps: RoomDeps, bytes: number, topic: string): void {
  const { queue: { max_bytes, policy }, lanes, drops } = deps;
  if (bytes > max_bytes / 2) throw new PublishRejected('too_large', `message on ${topic} (${bytes} bytes) is larger than half of bridge.queue.max_bytes (${max_bytes})`);
  while (total(lanes) + bytes > max_bytes) {
    // Segments every upstream has acknowledged are otherwise freed only at the next checkpoint:
    // free them now, before anything queued is dropped or a publish refused.
    if (lanes.high.releaseNow(deps.floor('high').seq) + lanes.normal.releaseNow(deps.floor('normal').seq) > 0) continue;
    if (policy === 'reject_new') {
      drops.dropped('queue_full', 1, `new message on ${topic} refused (policy reject_new)`);
      throw new PublishRejected('queue_full', `bridge queue full (${total(lanes)} of ${max_bytes} bytes, policy reject_new): message on ${topic} refused`);
    }
    if (!dropOldest(deps)) throw new PublishRejected('queue_full', `bridge queue full (${total(lanes)} of ${max_bytes} bytes) and nothing left to drop`);
  }
}

/** Drops one segment, normal traffic before the priority lane; false when none can go. */
function dropOldest({ lanes, floor, drops }: RoomDeps): boolean {
  for (const name of ['normal', 'high'] as const) {
    const before = floor(name).seq;
    const d = lanes[name].dropOldest();
    if (!d) continue;
    // Only what some upstream had not acknowledged yet is lost.
    const lost = Math.max(0, d.endSeq - Math.max(d.firstSeq, before));
    if (lost) drops.dropped('queue_full', lost, `oldest ${lost} queued messages (${d.bytes} bytes) dropped to make room (policy drop_oldest)`);
    return true;
  }
  return false;
}
