import { redact } from '../util/redact.ts';
import { NbdforgeError } from '../errors.ts';

/** Every fetch failure names the URL it was about (and the HTTP status when there was one). */
export class FetchError extends NbdforgeError {
  override name = 'FetchError';
  constructor(
    message: string,
    readonly url: string,
    readonly status?: number,
    /** Worth another attempt: 5xx, 408, 429, timeouts, connection resets, early ends. */
    readonly retryable = false,
    options?: { cause?: unknown },
  ) {
    super(redact(message), options);
  }
}

/** The bytes arrived but are not the ones the integrity chain promised. Never cached. */
export class ChecksumError extends FetchError {
  override name = 'ChecksumError';
}

/** Nobody answered at all: no server there, or no such host. Retrying (x every repository) only wastes minutes. */
export class UnreachableError extends FetchError {
  override name = 'UnreachableError';
  /** What happened, in words: "connection refused", "host name not found", ... */
  reason = '';
}

const RETRYABLE_CODES = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'ESOCKETTIMEDOUT', 'ERR_STREAM_PREMATURE_CLOSE']);
const UNREACHABLE_CODES: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name could not be resolved',
  ENETUNREACH: 'network unreachable',
  EHOSTUNREACH: 'host unreachable',
};

export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/** Wrap whatever a transfer threw into a FetchError that keeps the URL and the cause. */
export function toFetchError(err: unknown, url: string): FetchError {
  if (err instanceof FetchError) return err;
  const e = err as NodeJS.ErrnoException & { name?: string };
  const code = e?.code ?? '';
  if (UNREACHABLE_CODES[code]) {
    const host = (() => {
      try {
        return new URL(url).host;
      } catch {
        return url;
      }
    })();
    const e = new UnreachableError(`${url}: ${UNREACHABLE_CODES[code]} (${code}); check the address and port of ${host} and that its server is running`, url, undefined, false, { cause: err });
    e.reason = UNREACHABLE_CODES[code];
    return e;
  }
  if (code === 'ERR_TOO_MANY_REDIRECTS') return new FetchError(`${url}: redirected too many times (a redirect loop?); check the URL or try another mirror`, url, undefined, false, { cause: err });
  const retryable = RETRYABLE_CODES.has(code) || e?.name === 'TimeoutError' || e?.name === 'ReadError';
  const what = code ? `${code}: ${e.message}` : String(e?.message ?? err);
  return new FetchError(`${url}: ${what}`, url, undefined, retryable, { cause: err });
}
