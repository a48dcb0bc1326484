/** Every fetch failure names the URL it was about (and the HTTP status when there was one). */
export class FetchError extends Error {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    /** Worth another attempt: 5xx, 408, 429, timeouts, connection resets, early ends. */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The bytes arrived but are not the ones the integrity chain promised. Never cached. */
export class ChecksumError extends FetchError {
  override name = 'ChecksumError';
}

const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EAI_AGAIN',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Wrap whatever a transfer threw into a FetchError that keeps the URL and the cause. */
export function toFetchError(err: unknown, url: string): FetchError {
  if (err instanceof FetchError) return err;
  const e = err as NodeJS.ErrnoException & { name?: string };
  const code = e?.code ?? '';
  const retryable = RETRYABLE_CODES.has(code) || e?.name === 'TimeoutError' || e?.name === 'ReadError';
  const what = code ? `${code}: ${e.message}` : String(e?.message ?? err);
  return new FetchError(`${url}: ${what}`, url, undefined, retryable, { cause: err });
}
