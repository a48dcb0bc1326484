/**
 * What an el family keeps in the cache, for `nbdforge cache du` and `prune`: the SRPM,
 * kernel-devel RPM and kernel RPM of each kernel, content-addressed in `<cache>/sha256/` (shared by
 * every el family), the kernel-devel tree its builds unpack into `<cache>/<family>/derived/devel-<sha256>`,
 * the kernel `prove` boots, unpacked into `derived/boot-<sha256>`, and, kept whatever the kernels,
 * the catalog and the repodata (primary.xml.gz) it was synced from.
 */
import path from 'node:path';
import type { CacheEntry, CacheLayout, CatalogResult, KernelEntry } from '../family.ts';
import { cachePath } from '../../fetch/index.ts';
import { CatalogMissingError, catalogFile, readElCatalog, toCatalogResult, type ElData, type ElKernelEntry } from './catalog/index.ts';
import { elBootKernelDir } from './boot-kernel.ts';

export const elDerivedDir = (cacheDir: string, family: string) => path.join(cacheDir, family, 'derived');

export async function elCachedCatalog(cacheDir: string, data: ElData): Promise<CatalogResult | undefined> {
  try {
    return toCatalogResult(await readElCatalog(cacheDir, data.family), data);
  } catch (err) {
    if (err instanceof CatalogMissingError) return undefined;
    throw err;
  }
}

export async function elCacheLayout(cacheDir: string, family: string): Promise<CacheLayout> {
  const keep: CacheLayout['keep'] = [{ path: catalogFile(cacheDir, family), role: 'catalog' }];
  const c = await readElCatalog(cacheDir, family).catch(() => undefined);
  for (const r of c?.repos ?? []) {
    if (/^[0-9a-f]{64}$/.test(r.primarySha256)) keep.push({ path: cachePath(cacheDir, r.primarySha256), role: `repodata ${r.release}/${r.repo} (primary.xml.gz)` });
  }
  return { scan: [{ dir: path.join(cacheDir, 'sha256'), depth: 2 }, { dir: elDerivedDir(cacheDir, family), depth: 1 }], keep };
}

export function elCacheFiles(cacheDir: string, family: string, kernel: KernelEntry): CacheEntry[] {
  const out: CacheEntry[] = [];
  for (const f of kernel.files) {
    if (!/^[0-9a-f]{64}$/.test(f.sha256)) continue;
    out.push({ path: cachePath(cacheDir, f.sha256), role: `${f.role} (${f.filename})`, kind: 'download' });
    if (f.role === 'devel') out.push({ path: path.join(elDerivedDir(cacheDir, family), `devel-${f.sha256}`), role: 'kernel-devel tree (unpacked)', kind: 'derived' });
  }
  const k = (kernel as ElKernelEntry).kernelRpm;
  if (k && /^[0-9a-f]{64}$/.test(k.sha256)) {
    out.push({ path: cachePath(cacheDir, k.sha256), role: `kernel (${k.filename})`, kind: 'download' });
    out.push({ path: elBootKernelDir(elDerivedDir(cacheDir, family), k.sha256), role: 'bootable kernel (prove)', kind: 'derived' });
  }
  return out;
}
