/**
 * The one module that speaks HTTP (got): every request runs as an attempt of a TransferWatch, so
 * connect, idle, minimum-rate and deadline bounds hold for all of them, and whatever got throws is
 * turned into the bound that ended it. Callers decide retries (the watch keeps them inside the
 * deadline), statuses and what the bytes mean.
 */
import type { Method } from 'got';
import type { Readable } from 'node:stream';
import { FetchError } from './errors.ts';
import { connectTimeouts, type TransferWatch } from './watch.ts';

export type { Method };

export interface HttpRequest {
  method?: Method;
  headers?: Record<string, string>;
  body?: Buffer;
  /** Follow redirects (GET/HEAD by default); a loop ends at got's limit and is named by toFetchError. */
  followRedirect?: boolean;
  decompress?: boolean;
  /** got's own retries, for requests that never resume (http stores); default none. */
  retry?: { limit: number; methods?: Method[]; statusCodes?: number[]; errorCodes?: string[] };
}

export interface HttpResponse {
  status: number;
  statusMessage?: string;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

function options(r: HttpRequest, watch: TransferWatch) {
  return {
    method: r.method ?? 'GET',
    headers: r.headers,
    body: r.body,
    followRedirect: r.followRedirect ?? (r.method === undefined || r.method === 'GET' || r.method === 'HEAD'),
    decompress: r.decompress ?? false,
    retry: r.retry ?? { limit: 0 },
    throwHttpErrors: false,
    timeout: connectTimeouts(watch.limits),
    signal: watch.attempt(),
  } as const;
}

/** got and its two dozen modules load on the first request: a run answered from caches never pays for them. */
let gotModule: Promise<typeof import('got')> | undefined;
const loadGot = async () => (await (gotModule ??= import('got'))).default;

/** One attempt, the whole body in memory; more than `maxBytes` is refused while it streams. */
export async function httpBuffer(url: string | URL, r: HttpRequest & { maxBytes: number }, watch: TransferWatch): Promise<HttpResponse> {
  const got = await loadGot();
  const req = got(url, { ...options(r, watch), responseType: 'buffer' });
  let up = 0;
  let down = 0;
  let tooBig = false;
  req.on('uploadProgress', (p: { transferred: number }) => {
    watch.bytes(p.transferred - up);
    up = p.transferred;
  });
  req.on('response', (res: { headers: Record<string, string | string[] | undefined> }) => {
    watch.gotHeaders();
    const len = Number(res.headers['content-length']);
    if (Number.isFinite(len) && len <= r.maxBytes) watch.expect(len);
  });
  req.on('downloadProgress', (p: { transferred: number }) => {
    watch.bytes(p.transferred - down);
    down = p.transferred;
    if (p.transferred > r.maxBytes && !tooBig) {
      tooBig = true;
      req.cancel();
    }
  });
  try {
    const res = await req;
    return { status: res.statusCode, statusMessage: res.statusMessage, headers: res.headers, body: res.rawBody ?? Buffer.alloc(0) };
  } catch (err) {
    if (tooBig) throw new FetchError(`${String(url)}: more than the ${r.maxBytes} bytes allowed; refusing the rest`, String(url));
    throw watch.explain(err);
  }
}

/**
 * One streaming attempt: resolves with the response head and the body stream once headers arrive.
 * Bytes are counted for the watch here; an error on the stream is already explained.
 */
export async function httpStream(url: string | URL, r: HttpRequest, watch: TransferWatch): Promise<{ status: number; statusMessage?: string; headers: Record<string, string | string[] | undefined>; body: Readable }> {
  const got = await loadGot();
  const stream = got.stream(url, options(r, watch));
  let down = 0;
  stream.on('downloadProgress', (p: { transferred: number }) => {
    watch.bytes(p.transferred - down);
    down = p.transferred;
  });
  const head = await new Promise<{ statusCode: number; statusMessage?: string; headers: Record<string, string | string[] | undefined> }>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', (err: unknown) => reject(watch.explain(err)));
  });
  watch.gotHeaders();
  return { status: head.statusCode, statusMessage: head.statusMessage, headers: head.headers, body: stream };
}
