import { download, fetchBytes, FetchError, UnreachableError, TransferEndedError, joinLocation, mapLimit, type DownloadProgress, type NetOptions, type RetryPolicy } from '../../../fetch/index.ts';
import { type ElCatalog, type ElRepoState, type FoundPackage, compareRpmVersions, joinKernels, readElCatalog, writeElCatalog } from './catalog.ts';
import { redact } from '../../../util/redact.ts';
import type { ElData } from './data.ts';
import { parseRepomd, RepomdError } from '../../../rpm-repo/repomd.ts';
import { scanPrimaryGz } from '../../../rpm-repo/primary.ts';
import { verifyDetached } from '../../../doors/gpg.ts';
import { NbdforgeError } from '../../../errors.ts';

export interface ElSyncOptions {
  cacheDir: string;
  /** Vault base: https://..., http://..., file://... or a local directory. Default: releases.json's. */
  vault?: string;
  /** The family's data (kernels/<family>/releases.json). */
  data: ElData;
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
   * only by their own RPM signatures, which fetchElSources always checks. A signature that is
   * present but bad is refused regardless.
   */
  allowUnsignedRepodata?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  retry?: Partial<RetryPolicy>;
  timeouts?: { connectMs?: number; idleMs?: number };
  /** The fetch door's bounds and waiting line. */
  net?: NetOptions;
  now?: () => Date;
}

export interface ElRepoProblem {
  repo: string;
  error: Error;
}

export interface ElSyncResult {
  catalog: ElCatalog;
  file: string;
  problems: ElRepoProblem[];
}

export class ElSyncError extends NbdforgeError {
  override name = 'ElSyncError';
  constructor(readonly problems: ElRepoProblem[]) {
    super(
      `${problems.length} repositor${problems.length === 1 ? 'y' : 'ies'} failed verification or download; no catalog written:\n` +
        problems.map((p) => `  ${p.repo}: ${p.error.message}`).join('\n'),
      { cause: problems[0]?.error },
    );
  }
}

/** The vault did not answer at all: one line, no per-repository retries. */
export class VaultUnreachableError extends NbdforgeError {
  override name = 'VaultUnreachableError';
}

interface RepoRef {
  release: string;
  repo: string;
  arch: string; // 'Source' or the binary arch
}

/**
 * The integrity chain, per repository: repomd.xml must carry a valid detached signature by the
 * configured key; it names primary.xml.gz by sha256; primary names every package by sha256 and size.
 */
async function syncRepo(ref: RepoRef, vault: string, keyFile: string, fingerprint: string, data: ElData, o: ElSyncOptions) {
  const isSource = ref.arch === 'Source';
  const rel = (isSource ? data.layout.source : data.layout.binary).replace(/\{(release|repo|arch)\}/g, (_m, k: 'release' | 'repo' | 'arch') => ref[k]);
  const repomdUrl = joinLocation(vault, `${rel}/repodata/repomd.xml`);
  const net = { signal: o.signal, retry: o.retry, timeouts: o.timeouts, net: o.net };
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
  const recs = await scanPrimaryGz(file, (n) => (isSource ? n === data.packages.source : n === data.packages.devel || n === data.packages.kernel), primaryUrl);
  const packages: FoundPackage[] = recs
    .filter((r) => (isSource ? r.arch === 'src' : r.arch === data.binaryArch))
    .map((rec) => ({
      release: ref.release,
      repo: ref.repo,
      rec,
      file: { url: joinLocation(vault, `${rel}/${rec.href}`), path: `${rel}/${rec.href}`, sha256: rec.sha256, size: rec.size },
    }));
  const state: ElRepoState = { ...ref, url: repomdUrl, revision: md.revision, primarySha256: primary.sha256, signer, packages: packages.length };
  return { state, packages };
}

/** The bound that ended a transfer, if one did (possibly under a "gave up after N attempts"). */
function endedBy(err: unknown): TransferEndedError | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof TransferEndedError) return e;
  return undefined;
}

/** Refresh a family's catalog from the vault's signed repodata and write it under the cache. */
export async function syncElCatalog(o: ElSyncOptions): Promise<ElSyncResult> {
  const data = o.data;
  const vault = o.vault ?? data.defaultVault;
  const keyFile = o.keyFile ?? data.keyFile;
  const fingerprint = o.fingerprint ?? data.fingerprint;
  const known = data.releases.map((r) => r.release);
  const releases = o.releases ?? known;
  const unknown = releases.filter((r) => !known.includes(r));
  if (unknown.length) throw new Error(`unknown ${data.family} point release ${unknown.join(', ')} (known: ${known.join(', ')})`);
  const refs: RepoRef[] = releases.flatMap((release) =>
    data.repos.flatMap((repo) => ['Source', data.binaryArch].map((arch) => ({ release, repo, arch }))),
  );
  const problems: ElRepoProblem[] = [];
  let results;
  try {
    results = await mapLimit(refs, o.concurrency ?? 4, async (ref) => {
      try {
        return await syncRepo(ref, vault, keyFile, fingerprint, data, o);
      } catch (err) {
        // A vault that does not answer, or answers too slowly, would do the same for every repository: stop them all.
        if (o.signal?.aborted || err instanceof UnreachableError || endedBy(err)) throw err;
        problems.push({ repo: `${ref.release}/${ref.repo}/${ref.arch}`, error: err as Error });
        return undefined;
      }
    });
  } catch (err) {
    const ended = endedBy(err);
    if (ended) {
      throw new VaultUnreachableError(`the ${data.family} vault ${redact(vault)} did not deliver in time: ${ended.message}`, { cause: err });
    }
    if (!(err instanceof UnreachableError)) throw err;
    const why = err.reason || 'no answer';
    throw new VaultUnreachableError(`cannot reach the ${data.family} vault ${redact(vault)} (${why}); check --vault and that its server is running and reachable from here`, { cause: err });
  }
  problems.sort((a, b) => a.repo.localeCompare(b.repo, undefined, { numeric: true }));
  const ok = (results ?? []).filter((r) => r !== undefined);
  // Never write a catalog from nothing verified: the catalog already there stays.
  if ((problems.length && !o.allowPartial) || ok.length === 0) throw new ElSyncError(problems);
  const all = ok.flatMap((r) => r.packages);
  const { kernels, unpaired } = joinKernels(
    releases,
    all.filter((p) => p.rec.arch === 'src'),
    all.filter((p) => p.rec.arch !== 'src' && p.rec.name === data.packages.devel),
    { family: data.family, source: data.packages.source },
    all.filter((p) => p.rec.arch !== 'src' && p.rec.name === data.packages.kernel),
  );
  const catalog: ElCatalog = {
    schema: 1,
    family: data.family,
    vault,
    fingerprint,
    syncedAt: (o.now?.() ?? new Date()).toISOString(),
    repos: ok.map((r) => r.state),
    kernels,
    unpaired,
    ...(problems.length ? { problems: problems.map((p) => `${p.repo}: ${p.error.message}`) } : {}),
  };
  const merged = o.releases ? await mergeInto(o.cacheDir, catalog, releases) : catalog;
  const file = await writeElCatalog(o.cacheDir, merged);
  return { catalog: merged, file, problems };
}

/** A sync of some releases replaces those releases in the catalog already there and keeps the rest. */
async function mergeInto(cacheDir: string, fresh: ElCatalog, synced: string[]): Promise<ElCatalog> {
  const old = await readElCatalog(cacheDir, fresh.family).catch(() => undefined);
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
