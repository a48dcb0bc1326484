/** `nbdforge cache prune`: judge every entry, remove (or, dry, list) what goes, say what stayed and why. */
import fs from 'node:fs/promises';
import type { Inventory } from './inventory.ts';
import { judge } from './judge.ts';
import { formatBytes } from '../util/bytes.ts';
import { removeInside } from './walk.ts';

export async function prune(
  inv: Inventory,
  o: { olderThanDays?: number; keepLatest: number; dryRun: boolean; json: boolean },
  ctx: { stdout: NodeJS.WritableStream; stderr: NodeJS.WritableStream },
): Promise<number> {
  const now = Date.now();
  const verdicts = inv.items.map((item) => ({ item, v: judge(item, { olderThanDays: o.olderThanDays, keepLatest: o.keepLatest, now }) }));
  const victims = verdicts.filter((x) => x.v.remove);
  const cacheReal = await fs.realpath(inv.cache).catch(() => inv.cache);
  const removed: Array<{ path: string; bytes: number; reason: string }> = [];
  const failed: Array<{ path: string; error: string }> = [];
  for (const { item, v } of victims) {
    if (!o.dryRun) {
      try {
        await removeInside(item.path, cacheReal);
      } catch (err) {
        failed.push({ path: item.rel, error: (err as Error).message });
        continue;
      }
    }
    removed.push({ path: item.rel, bytes: item.bytes, reason: v.reason });
  }
  const bytes = removed.reduce((a, r) => a + r.bytes, 0);
  const kept = verdicts.filter((x) => !x.v.remove).map(({ item, v }) => ({ path: item.rel, bytes: item.bytes, reason: v.reason }));
  if (o.json) {
    ctx.stdout.write(JSON.stringify({ cache: inv.cache, dryRun: o.dryRun, [o.dryRun ? 'wouldRemove' : 'removed']: removed, bytes, kept, failed, leftAlone: inv.leftAlone.map((l) => l.rel), notes: inv.notes }, null, 2) + '\n');
  } else {
    const verb = o.dryRun ? 'would remove' : 'removed';
    for (const r of removed) ctx.stdout.write(`${verb}  ${r.path}  ${formatBytes(r.bytes)}  (${r.reason})\n`);
    const byReason = new Map<string, { n: number; bytes: number }>();
    for (const k of kept) {
      const key = k.reason.replace(/: .*/, '').replace(/^needed by stored .*/, 'needed by stored kernels').replace(/^warm.*/, `warm (--keep-latest ${o.keepLatest})`);
      const e = byReason.get(key) ?? { n: 0, bytes: 0 };
      e.n++;
      e.bytes += k.bytes;
      byReason.set(key, e);
    }
    if (kept.length) ctx.stdout.write(`kept ${[...byReason].map(([r, e]) => `${e.n} ${r} (${formatBytes(e.bytes)})`).join(', ')}\n`);
    for (const f of inv.families.filter((x) => x.note)) ctx.stdout.write(`${f.name}: ${f.note}\n`);
    if (inv.leftAlone.length) ctx.stdout.write(`left alone: ${inv.leftAlone.map((l) => `cache/${l.rel}`).join(', ')} (test, VM, proof and builder results caches)\n`);
    for (const n of inv.notes) ctx.stdout.write(`note: ${n}\n`);
    ctx.stdout.write(removed.length ? `${verb} ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'}, ${formatBytes(bytes)}${o.dryRun ? ' (dry run: nothing removed)' : ''}\n` : 'nothing to remove\n');
  }
  for (const f of failed) ctx.stderr.write(`nbdforge: could not remove ${f.path}: ${f.error}\n`);
  return failed.length ? 1 : 0;
}
