import { download, joinLocation, mapLimit, type DownloadProgress, type NetOptions, type RetryPolicy } from '../../../fetch/index.ts';
import type { ElFile, ElKernel } from './catalog.ts';
import { verifyRpmSignature } from '../../../rpm-repo/rpm-signature.ts';

export interface ElSourceFiles {
  /** kernel-<v>.src.rpm in the cache: its sha256 matched the signed repodata and its RPM signature the key. */
  srpm: string;
  /** kernel-devel-<v>.x86_64.rpm, checked the same way. */
  devel: string;
}

export interface FetchElSourcesOptions {
  cacheDir: string;
  keyFile: string;
  fingerprint: string;
  /** Fetch from this base instead of the one the catalog was synced from (same relative paths). */
  vault?: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  retry?: Partial<RetryPolicy>;
  timeouts?: { connectMs?: number; idleMs?: number };
  /** The fetch door's bounds and waiting line: an SRPM's deadline follows its size at the minimum rate. */
  net?: NetOptions;
}

function urlOf(f: Pick<ElFile, 'url' | 'path'>, vault?: string): string {
  return vault ? joinLocation(vault, f.path) : f.url;
}

/**
 * Download (or find in the cache) the two packages a kernel's build needs. Two independent links:
 * the sha256 and size from the signed repodata (checked by download), then the package's own RPM
 * signature by the configured key (checked here, on every call).
 */
export async function fetchElSources(k: ElKernel, o: FetchElSourcesOptions): Promise<ElSourceFiles> {
  const [srpm, devel] = await mapLimit([k.srpm, k.devel], 2, (f) => fetchElFile(f, o));
  return { srpm, devel };
}

/** One package of the vault into the cache, by both links: the repodata's sha256 and size, then its RPM signature. */
export async function fetchElFile(f: Pick<ElFile, 'url' | 'path' | 'sha256' | 'size'>, o: FetchElSourcesOptions): Promise<string> {
  const file = await download({ url: urlOf(f, o.vault), sha256: f.sha256, size: f.size, cacheDir: o.cacheDir, signal: o.signal, onProgress: o.onProgress, retry: o.retry, timeouts: o.timeouts, net: o.net });
  await verifyRpmSignature({ file, keyFile: o.keyFile, fingerprint: o.fingerprint });
  return file;
}
