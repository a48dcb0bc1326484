import fs from 'node:fs/promises';
import got from 'got';
import { FetchError, isRetryableStatus, toFetchError } from './errors.ts';
import { backoff, defaultRetryPolicy, type RetryPolicy } from './backoff.ts';
import { parseLocation } from './location.ts';

export interface FetchBytesOptions {
  signal?: AbortSignal;
  retry?: Partial<RetryPolicy>;
  timeouts?: { connectMs?: number; idleMs?: number };
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
  for (let failures = 0; ; ) {
    try {
      const res = await got(loc.url, {
        decompress: false,
        retry: { limit: 0 },
        throwHttpErrors: false,
        responseType: 'buffer',
        timeout: { connect: o.timeouts?.connectMs ?? 15_000, socket: o.timeouts?.idleMs ?? 60_000, response: o.timeouts?.idleMs ?? 60_000 },
        signal: o.signal,
      });
      if (res.statusCode !== 200) {
        throw new FetchError(`${loc.url}: HTTP ${res.statusCode}${res.statusMessage ? ` ${res.statusMessage}` : ''}`, loc.url, res.statusCode, isRetryableStatus(res.statusCode));
      }
      if (res.body.length > max) throw new FetchError(`${loc.url}: ${res.body.length} bytes is more than the ${max} allowed`, loc.url);
      return res.body;
    } catch (err) {
      const fe = toFetchError(err, loc.url);
      if (o.signal?.aborted || !fe.retryable) throw fe;
      if (++failures > policy.retries) throw new FetchError(`${fe.message} (gave up after ${failures} attempts)`, loc.url, fe.status, false, { cause: fe });
      await backoff(failures, policy, o.signal);
    }
  }
}
