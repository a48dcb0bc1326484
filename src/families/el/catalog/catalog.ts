import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../../util/atomic.ts';
import type { PackageRecord } from '../../../rpm-repo/primary.ts';
import { NbdforgeError } from '../../../errors.ts';

/** A file in the vault with what the signed repodata says about it. */
export interface ElFile {
  /** Absolute URL (or local path) at sync time. */
  url: string;
  /** Relative to the vault base, so another mirror can serve the same bytes. */
  path: string;
  sha256: string;
  size: number;
}

export interface ElKernel {
  family: string;
  /** The point release whose vault tree published it; also picks the builder container. */
  release: string;
  /** `uname -r`: 3.10.0-1160.119.1.el7.x86_64 */
  kernelRelease: string;
  /** version-release of the packages: 3.10.0-1160.119.1.el7 */
  version: string;
  srpm: ElFile;
  devel: ElFile;
  /**
   * The binary kernel package (kernel-<v>.<arch>.rpm: vmlinuz and its module tree), which `prove`
   * boots. Absent from catalogs synced before it was recorded, and when the vault has none.
   */
  kernel?: ElFile;
  /** Repository of the kernel-devel package. */
  repo: string;
}

export interface ElRepoState {
  release: string;
  repo: string;
  arch: string;
  /** repodata URL (or path) that was verified. */
  url: string;
  revision?: string;
  primarySha256: string;
  /** Fingerprint that signed repomd.xml; null for an unsigned repository (allowUnsignedRepodata). */
  signer: string | null;
  packages: number;
}

export interface ElCatalog {
  schema: 1;
  family: string;
  vault: string;
  fingerprint: string;
  syncedAt: string;
  repos: ElRepoState[];
  kernels: ElKernel[];
  /** Packages that had no partner (an SRPM without kernel-devel, or the reverse). */
  unpaired: string[];
  /** Repositories that failed, when the sync was allowed to be partial. */
  problems?: string[];
}

export interface FoundPackage {
  release: string;
  repo: string;
  rec: PackageRecord;
  file: ElFile;
}

const numeric = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });

/**
 * rpm's version order (rpmvercmp, without ~ and ^): alternating digit and letter segments; digits
 * compare as numbers and beat letters, so 3.10.0-1160.2.1.el7 sorts after 3.10.0-1160.el7.
 */
export function compareRpmVersions(a: string, b: string): number {
  const seg = (s: string) => s.match(/\d+|[a-zA-Z]+/g) ?? [];
  const x = seg(a);
  const y = seg(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const dx = /^\d/.test(x[i]);
    const dy = /^\d/.test(y[i]);
    if (dx !== dy) return dx ? 1 : -1;
    const c = dx ? Number(BigInt(x[i]) - BigInt(y[i])) : x[i] < y[i] ? -1 : x[i] > y[i] ? 1 : 0;
    if (c !== 0) return Math.sign(c);
  }
  return Math.sign(x.length - y.length);
}

/**
 * Pair each kernel-devel with its kernel SRPM (by the devel's sourcerpm, within one point release)
 * into kernel entries, each with the binary kernel package of the same version and arch from the
 * same point release when there is one. A kernel published by two point releases is kept once,
 * under the first.
 */
export function joinKernels(releases: string[], srpms: FoundPackage[], devels: FoundPackage[], names: { family: string; source: string }, images: FoundPackage[] = []): { kernels: ElKernel[]; unpaired: string[] } {
  const kernels: ElKernel[] = [];
  const seen = new Set<string>();
  const used = new Set<FoundPackage>();
  const unpaired: string[] = [];
  for (const release of releases) {
    const bySrpmName = new Map<string, FoundPackage>();
    for (const s of srpms.filter((p) => p.release === release)) bySrpmName.set(`${names.source}-${s.rec.ver}-${s.rec.rel}.src.rpm`, s);
    for (const d of devels.filter((p) => p.release === release)) {
      const version = `${d.rec.ver}-${d.rec.rel}`;
      const s = bySrpmName.get(d.rec.sourcerpm ?? `${names.source}-${version}.src.rpm`);
      if (!s || `${s.rec.ver}-${s.rec.rel}` !== version) {
        unpaired.push(d.file.path);
        continue;
      }
      used.add(s);
      const kernelRelease = `${version}.${d.rec.arch}`;
      if (seen.has(kernelRelease)) continue;
      seen.add(kernelRelease);
      const image = images.find((i) => i.release === release && i.rec.arch === d.rec.arch && `${i.rec.ver}-${i.rec.rel}` === version);
      kernels.push({ family: names.family, release, kernelRelease, version, srpm: s.file, devel: d.file, ...(image ? { kernel: image.file } : {}), repo: d.repo });
    }
  }
  for (const s of srpms) if (!used.has(s)) unpaired.push(s.file.path);
  kernels.sort((a, b) => numeric(a.release, b.release) || compareRpmVersions(a.version, b.version));
  return { kernels, unpaired: unpaired.sort() };
}

export function catalogFile(cacheDir: string, family: string): string {
  if (!/^[a-z][a-z0-9]*$/.test(family)) throw new Error(`not a family name: ${JSON.stringify(family)}`);
  return path.join(cacheDir, 'catalog', `${family}.json`);
}

export class CatalogMissingError extends NbdforgeError {
  override name = 'CatalogMissingError';
  override readonly exitCode = 2;
}

export async function readElCatalog(cacheDir: string, family: string): Promise<ElCatalog> {
  const file = catalogFile(cacheDir, family);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new CatalogMissingError(`no ${family} catalog at ${file}; run: nbdforge kernels sync --family ${family}`);
    }
    throw err;
  }
  const c = JSON.parse(text) as ElCatalog;
  if (c.schema !== 1 || c.family !== family || !Array.isArray(c.kernels)) throw new Error(`${file}: not a ${family} catalog`);
  return c;
}

export async function writeElCatalog(cacheDir: string, c: ElCatalog): Promise<string> {
  const file = catalogFile(cacheDir, c.family);
  await writeFileAtomic(file, JSON.stringify(c, null, 2) + '\n');
  return file;
}
