// auto_observe: which paths are observed when a device registers (EMQX emqx_lwm2m_session).
import { numericPath } from './codec/link.ts';
import type { ObjectModel } from './objects/model.ts';

/** Objects EMQX never auto-observes with `auto_observe: true` (?IGNORE_OBJECT): management, not data. */
const IGNORED = new Set([0, 1, 2, 4, 5, 6, 7, 9, 15]);

/**
 * `true`: every registered object link except the ignored ones; a list: the listed paths whose
 * object (and instance, when the link names one) the device registered. Only objects with a
 * definition are observed (their values could not be typed otherwise).
 */
export function autoObservePaths(setting: boolean | string[], objectList: readonly string[], model: ObjectModel): string[] {
  if (setting === false) return [];
  const links = objectList.map((l) => numericPath(l)).filter((p): p is number[] => p !== undefined && p.length > 0);
  if (setting === true) {
    return links.filter((p) => !IGNORED.has(p[0]!) && model.has(p[0]!)).map((p) => `/${p.join('/')}`);
  }
  return setting.filter((path) => {
    const p = numericPath(path);
    if (!p || !model.has(p[0]!)) return false;
    return links.some((l) => l.every((seg, i) => i >= p.length || p[i] === seg) && l[0] === p[0]);
  });
}
