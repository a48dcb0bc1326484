import fs from 'node:fs/promises';
import { FetchError, isRetryableStatus, toFetchError } from './errors.ts';
import { backoff, defaultRetryPolicy, type RetryPolicy } from './backoff.ts';
import { parseLocation } from './location.ts';
import { netLimits, type NetLimits } from './limits.ts';
import { TransferWatch } from './watch.ts';
import type { NetOptions } from './net-types.ts';
import { httpBuffer } from './http.ts';

export interface FetchBytesOptions {
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
  net?: Partial<NetOptions>;
  /** Overrides of single limits (tests). */
  timeouts?: Partial<NetLimits>;
  /** Refuse anything larger (repomd.xml and signatures are a few KB). */
  maxBytes?: number;
}

/**
 * Small files with no hash known in advance (repomd.xml, its signature): read whole into memory,
 * with the same retry rules as download(). Whoever calls this verifies the bytes before trusting them.
 */
export async function fetchBytes(where: string, o: FetchBytesOptions = {}): Promise<Buffer> {
  const loc = parseLocation(where);
  const max = o.maxBytes ?? 16 * 1024 * 1024;
  if (loc.kind === 'file') {
    const st = await fs.stat(loc.path).catch((err: NodeJS.ErrnoException) => {
      throw new FetchError(`${loc.url}: ${err.code === 'ENOENT' ? 'not found' : err.message}`, loc.url, undefined, false, { cause: err });
    });
    if (st.size > max) throw new FetchError(`${loc.url}: ${st.size} bytes is more than the ${max} allowed`, loc.url);
    return fs.readFile(loc.path);
  }
  const policy = { ...defaultRetryPolicy, ...o.retry };
  const limits = { ...(o.net?.limits ?? netLimits()), ...o.timeouts };
  // The size is unknown until the headers: the cap bounds the deadline until Content-Length says more.
  const watch = new TransferWatch({ url: loc.url, limits, report: o.net?.report, cap: max, signal: o.signal });
  try {
    return await attempts(loc.url, max, policy, watch, o.signal);
  } finally {
    watch.close();
  }
}

async function attempts(url: string, max: number, policy: RetryPolicy, watch: TransferWatch, signal?: AbortSignal): Promise<Buffer> {
  const loc = { url };
  for (let failures = 0; ; ) {
    try {
      const res = await httpBuffer(loc.url, { decompress: false, maxBytes: max }, watch);
      if (res.status !== 200) {
        throw new FetchError(`${loc.url}: HTTP ${res.status}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, loc.url, res.status, isRetryableStatus(res.status));
      }
      if (res.body.length > max) throw new FetchError(`${loc.url}: ${res.body.length} bytes is more than the ${max} allowed`, loc.url);
      return res.body;
    } catch (err) {
      const fe = toFetchError(watch.explain(err), loc.url);
      if (signal?.aborted || !fe.retryable) throw fe;
      if (++failures > policy.retries) throw new FetchError(`${fe.message} (gave up after ${failures} attempts)`, loc.url, fe.status, false, { cause: fe });
      await backoff(failures, policy, watch.signal).catch((e: unknown) => {
        throw watch.ended && !watch.ended.retryable ? watch.ended : toFetchError(e, loc.url);
      });
    }
  }
}
