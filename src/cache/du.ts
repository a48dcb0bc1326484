/** `nbdforge cache du`: the inventory per kernel, as text or JSON. */
import type { Inventory, Item } from './inventory.ts';
import { formatBytes } from '../util/bytes.ts';

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

export function du(inv: Inventory, family: string | undefined, json: boolean, out: NodeJS.WritableStream): number {
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
  if (inv.leftAlone.length) out.write(`\nleft alone (test, VM, proof and builder results caches, never pruned): ${inv.leftAlone.map((l) => `${l.rel} ${formatBytes(l.bytes)}`).join(', ')}\n`);
  for (const n of inv.notes) out.write(`note: ${n}\n`);
  out.write(
    `\ntotal ${formatBytes(totals.bytes)}: ${formatBytes(totals.forStoredKernels)} for stored kernels, ${formatBytes(totals.forKernelsNotStored)} for kernels not stored, ` +
      `${formatBytes(totals.leftover)} used by no catalog kernel, ${formatBytes(totals.kept)} catalogs and lists` +
      `${inv.leftAlone.length ? `; test, VM, proof and builder results caches ${formatBytes(totals.leftAlone)} besides` : ''}\n`,
  );
  return 0;
}
