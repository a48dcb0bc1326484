import fs from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash, type Hash } from 'node:crypto';
import { ChecksumError, FetchError, isRetryableStatus } from './errors.ts';
import type { TransferWatch } from './watch.ts';
import { httpStream } from './http.ts';

/** One attempt at filling `part` from a source. The hash covers the bytes on disk, in order. */
export interface TransferResult {
  digest: string;
  size: number;
  /** Bytes already in `part` that this attempt kept (0 when it started from scratch). */
  resumedFrom: number;
}

export interface TransferOptions {
  part: string;
  /** Expected total size, when the integrity chain gives one. */
  size?: number;
  /** For a local file: the caller's signal. */
  signal?: AbortSignal;
  /** For http: the clock of the whole download (every attempt) and its limits. */
  watch?: TransferWatch;
  /** Called with the bytes now on disk and the total when known. */
  onBytes: (received: number, total: number | undefined, resumedFrom: number) => void;
}

async function fileSize(file: string): Promise<number> {
  return (await fs.stat(file).catch(() => undefined))?.size ?? 0;
}

async function hashPrefix(file: string, bytes: number): Promise<Hash> {
  const h = createHash('sha256');
  if (bytes > 0) for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1 })) h.update(chunk as Buffer);
  return h;
}

function tap(hash: Hash, start: number, total: number | undefined, resumedFrom: number, onBytes: TransferOptions['onBytes'], cap?: { max: number; url: string }): Transform {
  let received = start;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      // The integrity chain announced the size: a server that sends more is cut off, not written to disk.
      if (cap && received + chunk.length > cap.max) return cb(new ChecksumError(`${cap.url}: the server sent more than the ${cap.max} bytes the repodata announces; refusing the rest`, cap.url));
      hash.update(chunk);
      received += chunk.length;
      onBytes(received, total, resumedFrom);
      cb(null, chunk);
    },
  });
}

/** From a local file: no resume (a local read either works or fails for good). */
export async function transferFile(src: string, url: string, o: TransferOptions): Promise<TransferResult> {
  const st = await fs.stat(src).catch((err: NodeJS.ErrnoException) => {
    throw new FetchError(`${url}: ${err.code === 'ENOENT' ? 'not found' : err.message}`, url, undefined, false, { cause: err });
  });
  if (!st.isFile()) throw new FetchError(`${url}: not a regular file`, url);
  const hash = createHash('sha256');
  await pipeline(createReadStream(src), tap(hash, 0, st.size, 0, o.onBytes), createWriteStream(o.part, { flags: 'w' }), { signal: o.signal });
  return { digest: hash.digest('hex'), size: await fileSize(o.part), resumedFrom: 0 };
}

/**
 * From http(s): resumes what is already in `part` with a Range request. A server that answers 200
 * instead of 206 gets a fresh start; 416 (the part is already too long) drops the part.
 */
export async function transferHttp(url: string, o: TransferOptions): Promise<TransferResult> {
  let offset = await fileSize(o.part);
  if (o.size !== undefined && offset > o.size) {
    await fs.truncate(o.part, 0);
    offset = 0;
  }
  if (o.size !== undefined && offset === o.size && offset > 0) {
    return { digest: (await hashPrefix(o.part, offset)).digest('hex'), size: offset, resumedFrom: offset };
  }
  const watch = o.watch!;
  const response = await httpStream(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {} }, watch);
  const stream = response.body;
  const status = response.status;
  const fail = (msg: string, retryable: boolean): never => {
    stream.destroy();
    throw new FetchError(`${url}: ${msg}`, url, status, retryable);
  };
  if (status === 416) {
    await fs.truncate(o.part, 0).catch(() => undefined);
    fail(`HTTP 416 for a resume at byte ${offset}; starting over`, true);
  }
  if (status !== 200 && status !== 206) fail(`HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`, isRetryableStatus(status));
  let total: number | undefined;
  if (status === 206) {
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(response.headers['content-range'] ?? ''));
    if (!m || Number(m[1]) !== offset) {
      await fs.truncate(o.part, 0);
      fail(`bad Content-Range ${JSON.stringify(response.headers['content-range'])} for a resume at byte ${offset}`, true);
    }
    total = m![3] === '*' ? undefined : Number(m![3]);
  } else {
    offset = 0; // the server sent the whole file: start over
    const len = response.headers['content-length'];
    total = len === undefined ? undefined : Number(len);
  }
  if (o.size !== undefined && total !== undefined && total !== o.size) fail(`server has ${total} bytes, expected ${o.size}`, false);
  // Without a size from the integrity chain, the server's announcement sets the deadline.
  if (o.size === undefined && total !== undefined) watch.expect(total);
  const hash = await hashPrefix(o.part, offset);
  await pipeline(stream, tap(hash, offset, total ?? o.size, offset, o.onBytes, o.size === undefined ? undefined : { max: o.size, url }), createWriteStream(o.part, { flags: offset > 0 ? 'a' : 'w' }));
  const size = await fileSize(o.part);
  if (total !== undefined && size !== total) throw new FetchError(`${url}: transfer ended at ${size} of ${total} bytes`, url, status, true);
  return { digest: hash.digest('hex'), size, resumedFrom: offset };
}
