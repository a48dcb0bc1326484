/**
 * The el7 catalog in the shape of the family interface (src/families/family.ts), so the el7 family
 * is a thin wrapper: catalog() -> elCatalogResult, ensureSources() -> ensureElSources.
 */
import path from 'node:path';
import type { CatalogResult, KernelEntry, SourceFile } from '../../family.ts';
import { type ElCatalog, type ElFile, type ElKernel, CatalogMissingError, readElCatalog } from './catalog.ts';
import type { ElData } from './data.ts';
import { fetchElSources, type FetchElSourcesOptions } from './fetch-sources.ts';
import { syncElCatalog, type ElSyncOptions } from './sync.ts';
import { UnknownKernelError } from '../../family.ts';

/** A KernelEntry plus what picks the builder container (the point release) and where it came from. */
export interface ElKernelEntry extends KernelEntry {
  release: string;
  repo: string;
  /** The vault the builder image's yum uses (set by the family from its config and releases.json). */
  builderVault?: string;
  /**
   * The binary kernel package `prove` boots (kept out of `files`: it is no build input, so the build
   * key stays what it was). Absent when the catalog has none (synced before it was recorded).
   */
  kernelRpm?: SourceFile & { url: string; path: string };
}

function sourceFile(role: 'srpm' | 'devel' | 'kernel', name: string, version: string, f: ElFile): SourceFile {
  return { role, name, version, filename: path.posix.basename(f.path), sha256: f.sha256, size: f.size };
}

export function toKernelEntry(k: ElKernel, packages: ElData['packages']): ElKernelEntry {
  return {
    family: k.family,
    kernelRelease: k.kernelRelease,
    sourceVersion: k.version,
    release: k.release,
    repo: k.repo,
    files: [sourceFile('srpm', packages.source, k.version, k.srpm), sourceFile('devel', packages.devel, k.version, k.devel)],
    ...(k.kernel ? { kernelRpm: { ...sourceFile('kernel', packages.kernel, k.version, k.kernel), url: k.kernel.url, path: k.kernel.path } } : {}),
  };
}

export type ElCatalogResult = Omit<CatalogResult, 'kernels'> & { kernels: ElKernelEntry[] };

export function toCatalogResult(c: ElCatalog, data: ElData): ElCatalogResult {
  return {
    fetchedAt: c.syncedAt,
    kernels: c.kernels.map((k) => toKernelEntry(k, data.packages)),
    skipped: c.unpaired.map((p) => ({ kernelRelease: path.posix.basename(p), reason: `no matching ${data.packages.source} SRPM / ${data.packages.devel} in the same point release` })),
  };
}

/**
 * The cached catalog, or a fresh sync when there is none or `refresh` is set. The vault is frozen,
 * so unlike debian12 there is no time-to-live: a catalog stays right until the user syncs again.
 */
export async function elCatalogResult(o: ElSyncOptions & { refresh?: boolean }): Promise<ElCatalogResult> {
  if (!o.refresh) {
    try {
      return toCatalogResult(await readElCatalog(o.cacheDir, o.data.family), o.data);
    } catch (err) {
      if (!(err instanceof CatalogMissingError)) throw err;
    }
  }
  return toCatalogResult((await syncElCatalog(o)).catalog, o.data);
}

/** role -> host path ({ srpm, devel }) for one kernel of the cached catalog, each file checked twice. */
export async function ensureElSources(
  kernelRelease: string,
  o: Omit<FetchElSourcesOptions, 'keyFile' | 'fingerprint'> & { keyFile?: string; fingerprint?: string; data: ElData },
): Promise<Record<'srpm' | 'devel', string>> {
  const catalog = await readElCatalog(o.cacheDir, o.data.family);
  const k = catalog.kernels.find((x) => x.kernelRelease === kernelRelease);
  if (!k) throw new UnknownKernelError(`${kernelRelease} is not in the ${o.data.family} catalog (${catalog.kernels.length} kernels, synced ${catalog.syncedAt})`);
  return fetchElSources(k, { ...o, keyFile: o.keyFile ?? o.data.keyFile, fingerprint: o.fingerprint ?? o.data.fingerprint });
}
