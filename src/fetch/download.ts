import fs from 'node:fs/promises';
import path from 'node:path';
import { assertSha256, commitToCache, lookupCached, partPath } from './cache.ts';
import { ChecksumError, FetchError, toFetchError } from './errors.ts';
import { backoff, defaultRetryPolicy, type RetryPolicy } from './backoff.ts';
import { parseLocation } from './location.ts';
import { withFileLock } from '../util/file-lock.ts';
import { transferFile, transferHttp, type TransferOptions } from './transfer.ts';
import { netLimits, type NetLimits } from './limits.ts';
import { TransferWatch } from './watch.ts';
import type { DownloadProgress, NetOptions } from './net-types.ts';

export interface DownloadOptions {
  /** http(s)://, file:// or a local path. */
  url: string;
  sha256: string;
  size?: number;
  cacheDir: string;
  signal?: AbortSignal;
  onProgress?: (p: DownloadProgress) => void;
  retry?: Partial<RetryPolicy>;
  /** Limits and where to say what it waits for (default: the defaults, silent). */
  net?: Partial<NetOptions>;
  /** Overrides of single limits (tests). */
  timeouts?: Partial<NetLimits>;
}

/** Attempts that each made progress may go on longer than `retries`, but never past this. */
const MAX_ATTEMPTS = 50;

/**
 * Fetch `url` into the content-addressed cache and return the cached path.
 * The sha256 is computed while the bytes stream to `<cache>/partial/<sha>.part`; only a file whose
 * size and hash match is renamed into `<cache>/sha256/<ab>/<sha>`. A broken transfer resumes with a
 * Range request (now, on retry, or in a later run); 5xx, timeouts and resets are retried with
 * exponential backoff. A checksum mismatch deletes the partial file and throws ChecksumError.
 */
export async function download(o: DownloadOptions): Promise<string> {
  const sha256 = assertSha256(o.sha256);
  const loc = parseLocation(o.url);
  const url = loc.url;
  const emit = (p: Omit<DownloadProgress, 'url'>) => o.onProgress?.({ url, ...p });
  const hit = await lookupCached(o.cacheDir, sha256, o.size);
  if (hit) {
    emit({ received: o.size ?? 0, total: o.size, resumedFrom: 0, done: true, cached: true });
    return hit;
  }
  const part = partPath(o.cacheDir, sha256);
  return withFileLock(
    `${part}.lock`,
    async () => {
      // Another process may have finished it while we waited for the lock.
      const done = await lookupCached(o.cacheDir, sha256, o.size);
      if (done) return done;
      const policy = { ...defaultRetryPolicy, ...o.retry };
      const limits = { ...(o.net?.limits ?? netLimits()), ...o.timeouts };
      // One clock for every attempt: retries never make the whole longer than its deadline.
      const watch = loc.kind === 'http' ? new TransferWatch({ url, limits, report: o.net?.report, expected: o.size, signal: o.signal }) : undefined;
      try {
        const t: TransferOptions = {
          part,
          size: o.size,
          signal: o.signal,
          watch,
          onBytes: (received, total, resumedFrom) => emit({ received, total, resumedFrom, done: false, cached: false }),
        };
        let failures = 0;
        let cleanRetry = false;
        for (let attempt = 1; ; attempt++) {
          const before = await sizeOf(part);
          try {
            const r = loc.kind === 'http' ? await transferHttp(url, t) : await transferFile(loc.path, url, t);
            if ((o.size === undefined || r.size === o.size) && r.digest === sha256) {
              const file = await commitToCache(part, o.cacheDir, sha256);
              emit({ received: r.size, total: r.size, resumedFrom: r.resumedFrom, done: true, cached: false });
              return file;
            }
            await fs.rm(part, { force: true });
            // A resumed prefix may come from an older copy of the file: one clean retry.
            if (r.resumedFrom > 0 && !cleanRetry) {
              cleanRetry = true;
              continue;
            }
            const got = o.size !== undefined && r.size !== o.size ? `${r.size} bytes, expected ${o.size}` : `sha256 ${r.digest}, expected ${sha256}`;
            throw new ChecksumError(`${url}: integrity check failed (${got}); nothing was cached`, url);
          } catch (err) {
            const fe = toFetchError(watch ? watch.explain(err) : err, url);
            if (fe instanceof ChecksumError) await fs.rm(part, { force: true });
            if (o.signal?.aborted || !fe.retryable) throw fe;
            failures = (await sizeOf(part)) > before ? 0 : failures + 1;
            if (failures > policy.retries || attempt >= MAX_ATTEMPTS) {
              throw new FetchError(`${fe.message} (gave up after ${attempt} attempts)`, url, fe.status, false, { cause: fe });
            }
            await backoff(Math.max(1, failures), policy, watch?.signal ?? o.signal).catch((e: unknown) => {
              throw watch?.ended && !watch.ended.retryable ? watch.ended : toFetchError(e, url);
            });
          }
        }
      } finally {
        watch?.close();
      }
    },
    // Another process downloading the same file holds this for as long as its transfer runs.
    { signal: o.signal, timeoutMs: 30 * 60_000 },
  );
}

async function sizeOf(file: string): Promise<number> {
  return (await fs.stat(file).catch(() => undefined))?.size ?? 0;
}

/** Remove partial files and stale locks (for a `cache clean`); the verified cache is left alone. */
export async function dropPartials(cacheDir: string): Promise<void> {
  await fs.rm(path.join(cacheDir, 'partial'), { recursive: true, force: true });
}
