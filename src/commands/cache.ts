import fs from 'node:fs/promises';
import { type Command, parse, pathsFrom, UsageError } from './context.ts';
import { familyNames, getFamily } from '../families/index.ts';
import { formatBytes, judge, LEFT_ALONE, takeInventory, type Inventory, type Item } from '../cache/inventory.ts';
import { removeInside } from '../cache/walk.ts';

const usage = `Usage: nbdforge cache du [--family F] [--json]
       nbdforge cache prune [--older-than DAYS] [--keep-latest N] [--dry-run] [--json]

The download cache ($NBDFORGE_HOME/cache) holds each kernel's source packages (about 140 MB per
debian12 ABI) and what builds derive from them (the unpacked kbuild tree, the module's sources, the
distribution's own module). Nothing in it is needed to load a built module; a build fetches again
what is missing. Neither subcommand needs Docker or the network: they read the cached catalogs.

du: per kernel, what the cache holds, what each entry is for and whether the store has an artifact
for that kernel; entries two kernels share are counted once and named with both; then what no
catalog kernel uses, what is kept whatever the kernels, and the totals.
  --family F          only this family's kernels (${familyNames().join(' | ')}; default all)

prune: removes what no stored artifact needs: entries used only by kernels the store has no
artifact for, and entries no catalog kernel uses. Never removed: anything outside the cache (links
are removed as links, never followed), the catalogs and apt lists that list kernels, the files of a
family with no cached catalog, and the test and VM caches (${LEFT_ALONE.map((n) => `cache/${n}`).join(', ')}).
  --keep-latest N     keep the files of each family's N newest catalog kernels, stored or not (default 0)
  --older-than DAYS   remove only entries not modified in DAYS days
  --dry-run           list what would be removed and the bytes; remove nothing
Kept too: the files of a kernel being built now and .tmp-* extractions written within a day. A build
still fetching is not seen: prune may remove what it just fetched (the build fails; run it again).

Common:
  --cache DIR         the cache (default $NBDFORGE_HOME/cache)
  --store DIR         the store whose artifacts decide what is needed (default $NBDFORGE_HOME/store)
  --json              machine-readable output

Examples:
  nbdforge cache du
      every kernel with files in the cache, stored or not, and the totals
  nbdforge cache prune --keep-latest 2 --dry-run
      what would go, keeping the stored kernels' files and the 2 newest kernels of each family
  nbdforge cache prune --older-than 30
      remove what no stored artifact needs and nobody touched for 30 days

Exit status: 0 done (du listed; prune removed or nothing to remove), 1 an entry could not be
removed (the others were), 2 usage.`;

const nonNegative = (v: string | undefined, flag: string): number | undefined => {
  if (v === undefined) return undefined;
  if (!/^\d+(\.\d+)?$/.test(v)) throw new UsageError(`${flag} takes a number of ${flag === '--older-than' ? 'days' : 'kernels'} (0 or more), not ${JSON.stringify(v)}`);
  return Number(v);
};

const cache: Command = {
  summary: 'Show what the download cache holds per kernel (du), remove what no stored artifact needs (prune)',
  usage,
  async run(argv, ctx) {
    const { values, positionals } = parse(
      argv,
      { family: { type: 'string' }, 'older-than': { type: 'string' }, 'keep-latest': { type: 'string' }, 'dry-run': { type: 'boolean', default: false } },
      true,
    );
    const [sub, ...extra] = positionals;
    if (sub !== 'du' && sub !== 'prune') throw new UsageError(sub === undefined ? 'give a subcommand: nbdforge cache du | prune (see nbdforge cache --help)' : `unknown subcommand "${sub}": nbdforge cache du | prune`);
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const only = (flags: string[]) => {
      for (const f of flags) if (values[f as keyof typeof values] !== undefined && values[f as keyof typeof values] !== false) throw new UsageError(`--${f} goes with ${sub === 'du' ? 'cache prune' : 'cache du'}`);
    };
    const paths = pathsFrom(values, ctx.env, sub === 'prune' ? { write: ['cache'] } : {});
    // Every family is read even for --family: the content-addressed directory is shared between them.
    const families = familyNames().map((n) => getFamily(n, ctx.env));
    if (sub === 'du') {
      only(['older-than', 'keep-latest', 'dry-run']);
      if (values.family !== undefined) getFamily(values.family, ctx.env);
      const inv = await takeInventory(families, paths);
      return du(inv, values.family, values.json === true, ctx.stdout);
    }
    only(['family']);
    const olderThanDays = nonNegative(values['older-than'], '--older-than');
    const keepLatest = nonNegative(values['keep-latest'], '--keep-latest') ?? 0;
    if (!Number.isInteger(keepLatest)) throw new UsageError(`--keep-latest takes a whole number of kernels, not ${values['keep-latest']}`);
    const inv = await takeInventory(families, paths, { keepLatest });
    return prune(inv, { olderThanDays, keepLatest, dryRun: values['dry-run'] === true, json: values.json === true }, ctx);
  },
};
export default cache;

interface KernelView {
  family: string;
  kernelRelease: string;
  stored: boolean;
  ownBytes: number;
  sharedBytes: number;
  files: Array<{ path: string; role: string; kind: string; bytes: number; sharedWith: string[] }>;
}

function kernelViews(inv: Inventory, family?: string): KernelView[] {
  const views = new Map<object, KernelView>();
  for (const item of inv.items) {
    for (const u of item.uses) {
      if (family && u.kernel.family !== family) continue;
      let v = views.get(u.kernel);
      if (!v) views.set(u.kernel, (v = { family: u.kernel.family, kernelRelease: u.kernel.kernelRelease, stored: u.kernel.stored, ownBytes: 0, sharedBytes: 0, files: [] }));
      const sharedWith = [...new Set(item.uses.filter((o) => o.kernel !== u.kernel).map((o) => o.kernel.kernelRelease))];
      v.files.push({ path: item.rel, role: u.role, kind: u.kind, bytes: item.bytes, sharedWith });
      if (sharedWith.length) v.sharedBytes += item.bytes;
      else v.ownBytes += item.bytes;
    }
  }
  // in catalog order
  return inv.kernels.map((k) => views.get(k)).filter((v): v is KernelView => v !== undefined);
}

const few = (names: string[]) => (names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', '));

function du(inv: Inventory, family: string | undefined, json: boolean, out: NodeJS.WritableStream): number {
  const mine = (i: Item) => !family || i.uses.some((u) => u.kernel.family === family) || (i.uses.length === 0 && inv.families.some((f) => f.name === family));
  const items = inv.items.filter(mine);
  const kernels = kernelViews(inv, family);
  const leftover = items.filter((i) => i.uses.length === 0 && !i.keepRole);
  const keptInScan = items.filter((i) => i.keepRole);
  const sum = (xs: Array<{ bytes: number }>) => xs.reduce((a, x) => a + x.bytes, 0);
  const used = items.filter((i) => i.uses.length);
  const storedItems = used.filter((i) => i.uses.some((u) => u.kernel.stored));
  const totals = {
    bytes: sum(items) + sum(inv.kept) ,
    forStoredKernels: sum(storedItems),
    forKernelsNotStored: sum(used) - sum(storedItems),
    leftover: sum(leftover),
    kept: sum(inv.kept) + sum(keptInScan),
    leftAlone: sum(inv.leftAlone),
  };
  const families = inv.families.filter((f) => !family || f.name === family);
  if (json) {
    out.write(
      JSON.stringify(
        {
          cache: inv.cache,
          families,
          kernels,
          leftover: leftover.map((i) => ({ path: i.rel, bytes: i.bytes, judged: i.unjudged.length === 0 })),
          kept: [...inv.kept.map((k) => ({ path: k.rel, role: k.role, bytes: k.bytes })), ...keptInScan.map((i) => ({ path: i.rel, role: i.keepRole, bytes: i.bytes }))],
          leftAlone: inv.leftAlone.map((l) => ({ path: l.rel, bytes: l.bytes })),
          notes: inv.notes,
          totals,
        },
        null,
        2,
      ) + '\n',
    );
    return 0;
  }
  out.write(`cache ${inv.cache}\n`);
  for (const f of families) {
    const n = kernels.filter((k) => k.family === f.name).length;
    out.write(f.catalog ? `\n${f.name}: catalog read ${f.catalog.fetchedAt}, ${f.catalog.kernels} kernels, ${n} with files here\n` : `\n${f.name}: ${f.note}\n`);
    const mine = kernels.filter((x) => x.family === f.name);
    // a kernel with nothing of its own here (only a compiler deb every kernel of its line shares) is one name on a summary line
    const sharedOnly = mine.filter((k) => k.files.every((x) => x.sharedWith.length));
    for (const k of mine.filter((x) => !sharedOnly.includes(x))) {
      out.write(`  ${k.kernelRelease}  ${k.stored ? 'stored' : 'not stored'}  ${formatBytes(k.ownBytes)} own${k.sharedBytes ? ` + ${formatBytes(k.sharedBytes)} shared` : ''}\n`);
      const w = Math.max(...k.files.map((x) => x.role.length));
      for (const x of k.files) out.write(`    ${x.role.padEnd(w)}  ${x.path}  ${formatBytes(x.bytes)}${x.sharedWith.length ? `  shared with ${few(x.sharedWith)}` : ''}\n`);
    }
    if (sharedOnly.length) {
      out.write(`  only shared files here (${sharedOnly.length}): ${sharedOnly.map((k) => `${k.kernelRelease}${k.stored ? ' (stored)' : ''}`).join(', ')}\n`);
    }
  }
  if (leftover.length) {
    out.write('\nno catalog kernel uses these (cache prune removes them):\n');
    for (const i of leftover) out.write(`  ${i.rel}  ${formatBytes(i.bytes)}${i.unjudged.length ? `  (kept: no cached ${i.unjudged.join(', ')} catalog)` : ''}\n`);
  }
  const kept = [...inv.kept.map((k) => ({ rel: k.rel, role: k.role, bytes: k.bytes })), ...keptInScan.map((i) => ({ rel: i.rel, role: i.keepRole!, bytes: i.bytes }))];
  if (kept.length) {
    out.write('\nkept whatever the kernels (they list kernels):\n');
    for (const k of kept) out.write(`  ${k.rel}  ${k.role}  ${formatBytes(k.bytes)}\n`);
  }
  if (inv.leftAlone.length) out.write(`\nleft alone (test and VM caches, never pruned): ${inv.leftAlone.map((l) => `${l.rel} ${formatBytes(l.bytes)}`).join(', ')}\n`);
  for (const n of inv.notes) out.write(`note: ${n}\n`);
  out.write(
    `\ntotal ${formatBytes(totals.bytes)}: ${formatBytes(totals.forStoredKernels)} for stored kernels, ${formatBytes(totals.forKernelsNotStored)} for kernels not stored, ` +
      `${formatBytes(totals.leftover)} used by no catalog kernel, ${formatBytes(totals.kept)} catalogs and lists` +
      `${inv.leftAlone.length ? `; test and VM caches ${formatBytes(totals.leftAlone)} besides` : ''}\n`,
  );
  return 0;
}

async function prune(
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
    if (inv.leftAlone.length) ctx.stdout.write(`left alone: ${inv.leftAlone.map((l) => `cache/${l.rel}`).join(', ')} (test and VM caches)\n`);
    for (const n of inv.notes) ctx.stdout.write(`note: ${n}\n`);
    ctx.stdout.write(removed.length ? `${verb} ${removed.length} entr${removed.length === 1 ? 'y' : 'ies'}, ${formatBytes(bytes)}${o.dryRun ? ' (dry run: nothing removed)' : ''}\n` : 'nothing to remove\n');
  }
  for (const f of failed) ctx.stderr.write(`nbdforge: could not remove ${f.path}: ${f.error}\n`);
  return failed.length ? 1 : 0;
}
