/** What `cache prune` does with one entry of the inventory, and why. */
import path from 'node:path';
import type { Item } from './inventory.ts';

export type Verdict = { remove: true; reason: string } | { remove: false; reason: string };

/** Whether prune removes an entry, and why (or why not). */
export function judge(item: Item, opts: { olderThanDays?: number; keepLatest?: number; now?: number }): Verdict {
  if (item.keepRole) return { remove: false, reason: `${item.keepRole}: needed to list kernels` };
  const stored = item.uses.filter((u) => u.kernel.stored);
  if (stored.length) return { remove: false, reason: `needed by stored ${names(stored)}` };
  const warm = item.uses.filter((u) => u.kernel.warm);
  if (warm.length) return { remove: false, reason: `warm: ${names(warm)} (--keep-latest ${opts.keepLatest})` };
  const building = item.uses.filter((u) => u.kernel.building !== undefined);
  if (building.length) return { remove: false, reason: `in use: a build of ${names(building)} is running` };
  // build.sh unpacks into .tmp-* beside the product, then renames: a recent one may be a running build's
  if (path.basename(item.path).startsWith('.') && (opts.now ?? Date.now()) - item.newestMtimeMs < 86400_000) {
    return { remove: false, reason: 'unfinished, modified within a day: a build may be writing it' };
  }
  if (item.unjudged.length) return { remove: false, reason: `no cached ${item.unjudged.join(', ')} catalog to judge it by` };
  if (opts.olderThanDays !== undefined && (opts.now ?? Date.now()) - item.newestMtimeMs < opts.olderThanDays * 86400_000) {
    return { remove: false, reason: `modified within ${opts.olderThanDays} days` };
  }
  return { remove: true, reason: item.uses.length ? `only for kernels with no stored artifact: ${names(item.uses)}` : 'no catalog kernel uses it' };
}

function names(us: Item['uses']): string {
  const ks = [...new Set(us.map((u) => u.kernel.kernelRelease))];
  return ks.length > 3 ? `${ks.slice(0, 3).join(', ')} and ${ks.length - 3} more` : ks.join(', ');
}
