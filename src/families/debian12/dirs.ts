import path from 'node:path';
import type { CacheEntry, CacheLayout, FamilyContext, KernelEntry } from '../family.ts';
import { bootKernelDir } from './boot-kernel.ts';
import { headersKey, HEADER_ROLES } from './derived.ts';

/** Where debian12 keeps its files in the cache: apt lists, fetched debs, derived products, the catalog. */
export interface Debian12Dirs {
  root: string;
  lists: string;
  /** apt's package cache (pkgcache.bin) made from the lists, shared by the containers (aptBinds). */
  aptCache: string;
  debs: string;
  derived: string;
  catalog: string;
}

export function debian12Dirs(ctx: Pick<FamilyContext, 'paths'>): Debian12Dirs {
  const root = path.join(ctx.paths.cache, 'debian12');
  return { root, lists: path.join(root, 'apt-lists'), aptCache: path.join(root, 'apt-cache'), debs: path.join(root, 'debs'), derived: path.join(root, 'derived'), catalog: path.join(root, 'catalog.json') };
}

/** What a kept download is for, where its role does not say it (cache du shows it). */
const ROLE_USE: Record<string, string> = {
  image: 'the oracle reads its nbd.ko; prove boots its vmlinuz with its modules',
  source: 'left from a fetch without a module: builds keep only the module sources out of it',
};

/** The directories cache du/prune scan, and the files they keep. */
export function debian12CacheLayout(d: Debian12Dirs): CacheLayout {
  return {
    scan: [{ dir: d.debs, depth: 1 }, { dir: d.derived, depth: 1 }],
    keep: [{ path: d.catalog, role: 'catalog' }, { path: d.lists, role: 'apt lists (read by kernels --refresh and fetches)' }, { path: d.aptCache, role: "apt's package cache (made from the apt lists once, read by every fetch)" }],
  };
}

/** A kernel's files in the cache: its downloads and what was derived from them. */
export function debian12CacheFiles(d: Debian12Dirs, kernel: KernelEntry): CacheEntry[] {
  const out: CacheEntry[] = kernel.files.map((f) => ({ path: path.join(d.debs, f.filename), role: ROLE_USE[f.role] ? `${f.role} (${ROLE_USE[f.role]})` : f.role, kind: 'download' }));
  const has = (role: string) => kernel.files.some((f) => f.role === role);
  if (HEADER_ROLES.every(has)) out.push({ path: path.join(d.derived, `kbuild-${headersKey(kernel)}`), role: 'kbuild tree (unpacked headers)', kind: 'derived' });
  const of = (role: string) => kernel.files.find((f) => f.role === role);
  if (of('source')) out.push({ path: path.join(d.derived, `src-${of('source')!.sha256}`), role: 'module sources (from the source tarball)', kind: 'derived' });
  if (of('image')) out.push({ path: path.join(d.derived, `oracle-${of('image')!.sha256}.ko`), role: 'shipped module (oracle)', kind: 'derived' });
  if (of('image')) out.push({ path: bootKernelDir(d.derived, of('image')!.sha256), role: 'bootable kernel (prove)', kind: 'derived' });
  return out;
}
