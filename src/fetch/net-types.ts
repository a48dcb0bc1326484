/** The words of the fetch door shared by its parts and its callers: bounds, their error, the reporter. */
import { FetchError } from './errors.ts';
import type { NetLimits } from './limits.ts';

/** Which bound ended a transfer: the words every message and --json uses. */
export type Bound = 'connect' | 'idle' | 'rate' | 'deadline';

/** Where a transfer says what it is waiting for: one line each (stderr), and a terminal's progress line. */
export interface NetReporter {
  /** Once per transfer, after noticeMs below the minimum rate. */
  waiting(line: string): void;
  /** Called about once a second for a transfer running longer than a few seconds; undefined clears it. */
  progress?(line: string | undefined): void;
}

/** A transfer ended by one of its bounds. Retried only when a body stopped (idle after the headers: it resumes). */
export class TransferEndedError extends FetchError {
  override name = 'TransferEndedError';
  constructor(
    /** The message without the URL in front, for callers that put their own (GET <url>: ...). */
    readonly reason: string,
    url: string,
    readonly bound: Bound,
    readonly received: number,
    readonly elapsedMs: number,
    retryable = false,
  ) {
    super(`${url}: ${reason}`, url, undefined, retryable);
  }
}

/** How the network side of a command is set up: read once at the edge, passed down as is. */
export interface NetOptions {
  limits: NetLimits;
  report?: NetReporter;
}

/** One download's progress, as `download` reports it to its onProgress (and the progress line reads it). */
export interface DownloadProgress {
  url: string;
  /** Bytes of the file now on disk (including a resumed prefix). */
  received: number;
  total?: number;
  /** Bytes kept from an earlier attempt or run. */
  resumedFrom: number;
  /** True once, when the file is verified and in the cache (or was already there). */
  done: boolean;
  cached: boolean;
}
