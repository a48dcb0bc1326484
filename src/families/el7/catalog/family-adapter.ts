/**
 * The el7 catalog in the shape of the family interface (src/families/family.ts), so the el7 family
 * is a thin wrapper: catalog() -> el7CatalogResult, ensureSources() -> ensureEl7Sources.
 */
import path from 'node:path';
import type { CatalogResult, KernelEntry, SourceFile } from '../../family.ts';
import { type El7Catalog, type El7File, type El7Kernel, CatalogMissingError, readEl7Catalog } from './catalog.ts';
import { type El7Data, loadEl7Data } from './data.ts';
import { fetchEl7Sources, type FetchEl7SourcesOptions } from './fetch-sources.ts';
import { syncEl7Catalog, type El7SyncOptions } from './sync.ts';
import { UnknownKernelError } from '../../family.ts';

/** A KernelEntry plus what picks the builder container (the point release) and where it came from. */
export interface El7KernelEntry extends KernelEntry {
  family: 'el7';
  release: string;
  repo: 'os' | 'updates';
  /** The vault the builder image's yum uses (set by the family from its config and releases.json). */
  builderVault?: string;
}

function sourceFile(role: 'srpm' | 'devel', name: string, version: string, f: El7File): SourceFile {
  return { role, name, version, filename: path.posix.basename(f.path), sha256: f.sha256, size: f.size };
}

export function toKernelEntry(k: El7Kernel): El7KernelEntry {
  return {
    family: 'el7',
    kernelRelease: k.kernelRelease,
    sourceVersion: k.version,
    release: k.release,
    repo: k.repo,
    files: [sourceFile('srpm', 'kernel', k.version, k.srpm), sourceFile('devel', 'kernel-devel', k.version, k.devel)],
  };
}

export type El7CatalogResult = Omit<CatalogResult, 'kernels'> & { kernels: El7KernelEntry[] };

export function toCatalogResult(c: El7Catalog): El7CatalogResult {
  return {
    fetchedAt: c.syncedAt,
    kernels: c.kernels.map(toKernelEntry),
    skipped: c.unpaired.map((p) => ({ kernelRelease: path.posix.basename(p), reason: 'no matching kernel SRPM / kernel-devel in the same point release' })),
  };
}

/**
 * The cached catalog, or a fresh sync when there is none or `refresh` is set. The vault is frozen,
 * so unlike debian12 there is no time-to-live: a catalog stays right until the user syncs again.
 */
export async function el7CatalogResult(o: El7SyncOptions & { refresh?: boolean }): Promise<El7CatalogResult> {
  if (!o.refresh) {
    try {
      return toCatalogResult(await readEl7Catalog(o.cacheDir));
    } catch (err) {
      if (!(err instanceof CatalogMissingError)) throw err;
    }
  }
  return toCatalogResult((await syncEl7Catalog(o)).catalog);
}

/** role -> host path ({ srpm, devel }) for one kernel of the cached catalog, each file checked twice. */
export async function ensureEl7Sources(
  kernelRelease: string,
  o: Omit<FetchEl7SourcesOptions, 'keyFile' | 'fingerprint'> & { keyFile?: string; fingerprint?: string; data?: El7Data },
): Promise<Record<'srpm' | 'devel', string>> {
  const catalog = await readEl7Catalog(o.cacheDir);
  const k = catalog.kernels.find((x) => x.kernelRelease === kernelRelease);
  if (!k) throw new UnknownKernelError(`${kernelRelease} is not in the el7 catalog (${catalog.kernels.length} kernels, synced ${catalog.syncedAt})`);
  const data = o.keyFile && o.fingerprint ? undefined : (o.data ?? (await loadEl7Data()));
  return fetchEl7Sources(k, { ...o, keyFile: o.keyFile ?? data!.keyFile, fingerprint: o.fingerprint ?? data!.fingerprint });
}
