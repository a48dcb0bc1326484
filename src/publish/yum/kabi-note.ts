/**
 * The kABI note in each kmod package's description (el families): which other kernels of the
 * package's point release could load its module, from the same computation as `nbdforge compat`
 * (every imported CRC against each kernel's Module.symvers from its kernel-devel RPM). Read from
 * the cached catalog only: publishing never fetches a catalog, and without one (or without the
 * kernel in it) the description simply has no note.
 */
import { getFamily } from '../../families/index.ts';
import type { KernelEntry } from '../../families/family.ts';
import type { CompatRow } from '../../verify/compat.ts';
import { catalogCompat, pointRelease } from '../../families/el/compat-catalog.ts';
import type { PublishItem, TargetOptions } from '../target.ts';

/** kernelRelease -> the note's lines (each one line of printable text, as the spec requires). */
export async function kabiNotes(items: PublishItem[], opts: Pick<TargetOptions, 'family' | 'env' | 'paths'>): Promise<Map<string, string[]>> {
  const notes = new Map<string, string[]>();
  if (!/^el\d+$/.test(opts.family)) return notes;
  const family = getFamily(opts.family, opts.env);
  const catalog = await family.cachedCatalog?.({ paths: opts.paths }).catch(() => undefined);
  if (!catalog) return notes;
  const byRelease = new Map<string, KernelEntry[]>();
  for (const k of catalog.kernels) {
    const r = pointRelease(k);
    if (r) byRelease.set(r, [...(byRelease.get(r) ?? []), k]);
  }
  for (const [release, kernels] of byRelease) {
    const mine = items.filter((i) => kernels.some((k) => k.kernelRelease === i.entry.kernelRelease));
    if (mine.length === 0) continue;
    const rows = await catalogCompat(opts.paths.cache, family.name, kernels, mine.map((i) => ({ kernelRelease: i.entry.kernelRelease, modulePath: i.modulePath })));
    for (const row of rows) notes.set(row.builtFor, kabiLines(row, `${family.name} ${release}`));
  }
  return notes;
}

/** The note for one row: kernels listed a few to a line (rpm descriptions wrap nothing). */
export function kabiLines(row: CompatRow, release: string): string[] {
  const checked = row.loads.length + row.breaks.length;
  const lines = [`kABI: its ${row.imports} imported CRCs against the Module.symvers of ${checked} other ${release} kernel${checked === 1 ? '' : 's'}:`];
  if (row.loads.length) lines.push(...chunks(`loads on (every CRC matches; weak-modules would link it):`, row.loads));
  else lines.push('loads on no other kernel of this release');
  if (row.breaks.length) lines.push(...chunks('not on (first symbol whose CRC differs):', row.breaks.map((b) => `${b.kernel} (${b.symbol})`)));
  if (row.unknown.length) lines.push(`not checked (no Module.symvers at hand): ${row.unknown.length} kernel${row.unknown.length === 1 ? '' : 's'}`);
  return lines;
}

function chunks(head: string, words: string[]): string[] {
  const out = [head];
  for (let i = 0; i < words.length; i += 4) out.push(`  ${words.slice(i, i + 4).join(' ')}`);
  return out;
}
