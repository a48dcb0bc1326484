import { download, fetchBytes, FetchError, UnreachableError, joinLocation, mapLimit, type DownloadProgress, type RetryPolicy } from '../../../fetch/index.ts';
import { type El7Catalog, type El7RepoState, type FoundPackage, compareRpmVersions, joinKernels, readEl7Catalog, writeEl7Catalog } from './catalog.ts';
import { redact } from '../../../util/redact.ts';
import { type El7Data, loadEl7Data } from './data.ts';
import { parseRepomd, RepomdError } from '../../../rpm-repo/repomd.ts';
import { scanPrimaryGz } from '../../../rpm-repo/primary.ts';
import { verifyDetached } from '../../../rpm-repo/signature.ts';

export interface El7SyncOptions {
  cacheDir: string;
  /** Vault base: https://..., http://..., file://... or a local directory. Default: releases.json's. */
  vault?: string;
  /** kernels/el7 data; loaded from the default folder when absent. */
  data?: El7Data;
  /** A subset of the point releases (default: all of releases.json). */
  releases?: string[];
  /** Overrides of the key file and the fingerprint it must have (tests, a site's own re-signed mirror). */
  keyFile?: string;
  fingerprint?: string;
  /** Repositories fetched at once (default 4). */
  concurrency?: number;
  /** Write a catalog from the repositories that verified even if others failed. */
  allowPartial?: boolean;
  /**
   * Accept a repository that has no repomd.xml.asc at all (404): its packages are then vouched for
   * only by their own RPM signatures, which fetchEl7Sources always checks. A signature that is
   * present but bad is refused regardless.
   */
  allowUnsignedRepodata?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  retry?: Partial<RetryPolicy>;
  timeouts?: { connectMs?: number; idleMs?: number };
  now?: () => Date;
}

export interface El7RepoProblem {
  repo: string;
  error: Error;
}

export interface El7SyncResult {
  catalog: El7Catalog;
  file: string;
  problems: El7RepoProblem[];
}

export class El7SyncError extends Error {
  override name = 'El7SyncError';
  constructor(readonly problems: El7RepoProblem[]) {
    super(
      `${problems.length} repositor${problems.length === 1 ? 'y' : 'ies'} failed verification or download; no catalog written:\n` +
        problems.map((p) => `  ${p.repo}: ${p.error.message}`).join('\n'),
      { cause: problems[0]?.error },
    );
  }
}

/** The vault did not answer at all: one line, no per-repository retries. */
export class VaultUnreachableError extends Error {
  override name = 'VaultUnreachableError';
}

interface RepoRef {
  release: string;
  repo: 'os' | 'updates';
  arch: string; // 'Source' or the binary arch
}

/**
 * The integrity chain, per repository: repomd.xml must carry a valid detached signature by the
 * configured key; it names primary.xml.gz by sha256; primary names every package by sha256 and size.
 */
async function syncRepo(ref: RepoRef, vault: string, keyFile: string, fingerprint: string, binaryArch: string, o: El7SyncOptions) {
  const rel = `${ref.release}/${ref.repo}/${ref.arch}`;
  const repomdUrl = joinLocation(vault, `${rel}/repodata/repomd.xml`);
  const net = { signal: o.signal, retry: o.retry, timeouts: o.timeouts };
  const [xml, sig] = await Promise.all([
    fetchBytes(repomdUrl, { ...net, maxBytes: 1024 * 1024 }),
    fetchBytes(joinLocation(vault, `${rel}/repodata/repomd.xml.asc`), { ...net, maxBytes: 64 * 1024 }).catch((err: unknown) => {
      if (o.allowUnsignedRepodata && err instanceof FetchError && err.status === 404) return undefined;
      throw err;
    }),
  ]);
  const signer = sig ? await verifyDetached({ data: xml, signature: sig, keyFile, fingerprint, what: repomdUrl }) : null;
  const md = parseRepomd(xml.toString('utf8'), repomdUrl);
  const primary = md.data.primary;
  if (!primary) throw new RepomdError(`${repomdUrl}: no primary metadata listed`);
  const primaryUrl = joinLocation(vault, `${rel}/${primary.href}`);
  const file = await download({ url: primaryUrl, sha256: primary.sha256, size: primary.size, cacheDir: o.cacheDir, onProgress: o.onProgress, ...net });
  const isSource = ref.arch === 'Source';
  const recs = await scanPrimaryGz(file, (n) => (isSource ? n === 'kernel' : n === 'kernel-devel'), primaryUrl);
  const packages: FoundPackage[] = recs
    .filter((r) => (isSource ? r.arch === 'src' : r.arch === binaryArch))
    .map((rec) => ({
      release: ref.release,
      repo: ref.repo,
      rec,
      file: { url: joinLocation(vault, `${rel}/${rec.href}`), path: `${rel}/${rec.href}`, sha256: rec.sha256, size: rec.size },
    }));
  const state: El7RepoState = { ...ref, url: repomdUrl, revision: md.revision, primarySha256: primary.sha256, signer, packages: packages.length };
  return { state, packages };
}

/** Refresh the el7 catalog from the vault's signed repodata and write it under the cache. */
export async function syncEl7Catalog(o: El7SyncOptions): Promise<El7SyncResult> {
  const data = o.data ?? (await loadEl7Data());
  const vault = o.vault ?? data.defaultVault;
  const keyFile = o.keyFile ?? data.keyFile;
  const fingerprint = o.fingerprint ?? data.fingerprint;
  const known = data.releases.map((r) => r.release);
  const releases = o.releases ?? known;
  const unknown = releases.filter((r) => !known.includes(r));
  if (unknown.length) throw new Error(`unknown el7 point release ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const refs: RepoRef[] = releases.flatMap((release) =>
    data.repos.flatMap((repo) => ['Source', data.binaryArch].map((arch) => ({ release, repo, arch }))),
  );
  const problems: El7RepoProblem[] = [];
  let results;
  try {
    results = await mapLimit(refs, o.concurrency ?? 4, async (ref) => {
      try {
        return await syncRepo(ref, vault, keyFile, fingerprint, data.binaryArch, o);
      } catch (err) {
        if (o.signal?.aborted || err instanceof UnreachableError) throw err; // stops the other repositories too
        problems.push({ repo: `${ref.release}/${ref.repo}/${ref.arch}`, error: err as Error });
        return undefined;
      }
    });
  } catch (err) {
    if (!(err instanceof UnreachableError)) throw err;
    const why = err.reason || 'no answer';
    throw new VaultUnreachableError(`cannot reach the el7 vault ${redact(vault)} (${why}); check --vault and that its server is running and reachable from here`, { cause: err });
  }
  problems.sort((a, b) => a.repo.localeCompare(b.repo, undefined, { numeric: true }));
  const ok = (results ?? []).filter((r) => r !== undefined);
  // Never write a catalog from nothing verified: the catalog already there stays.
  if ((problems.length && !o.allowPartial) || ok.length === 0) throw new El7SyncError(problems);
  const all = ok.flatMap((r) => r.packages);
  const { kernels, unpaired } = joinKernels(
    releases,
    all.filter((p) => p.rec.arch === 'src'),
    all.filter((p) => p.rec.arch !== 'src'),
  );
  const catalog: El7Catalog = {
    schema: 1,
    family: 'el7',
    vault,
    fingerprint,
    syncedAt: (o.now?.() ?? new Date()).toISOString(),
    repos: ok.map((r) => r.state),
    kernels,
    unpaired,
    ...(problems.length ? { problems: problems.map((p) => `${p.repo}: ${p.error.message}`) } : {}),
  };
  const merged = o.releases ? await mergeInto(o.cacheDir, catalog, releases) : catalog;
  const file = await writeEl7Catalog(o.cacheDir, merged);
  return { catalog: merged, file, problems };
}

/** A sync of some releases replaces those releases in the catalog already there and keeps the rest. */
async function mergeInto(cacheDir: string, fresh: El7Catalog, synced: string[]): Promise<El7Catalog> {
  const old = await readEl7Catalog(cacheDir).catch(() => undefined);
  if (!old) return fresh;
  const keep = <T extends { release: string }>(xs: T[]) => xs.filter((x) => !synced.includes(x.release));
  const seen = new Set(fresh.kernels.map((k) => k.kernelRelease));
  const numeric = (a: string, b: string) => a.localeCompare(b, undefined, { numeric: true });
  return {
    ...fresh,
    repos: [...keep(old.repos), ...fresh.repos].sort((a, b) => numeric(a.release, b.release) || a.repo.localeCompare(b.repo) || a.arch.localeCompare(b.arch)),
    kernels: [...keep(old.kernels).filter((k) => !seen.has(k.kernelRelease)), ...fresh.kernels].sort((a, b) => numeric(a.release, b.release) || compareRpmVersions(a.version, b.version)),
    unpaired: [...new Set([...old.unpaired.filter((u) => !synced.some((r) => u.startsWith(`${r}/`))), ...fresh.unpaired])].sort(),
    ...(old.problems || fresh.problems
      ? { problems: [...(old.problems ?? []).filter((p) => !synced.some((r) => p.startsWith(`${r}/`))), ...(fresh.problems ?? [])] }
      : {}),
  };
}
