import { setTimeout as sleep } from 'node:timers/promises';

export interface RetryPolicy {
  /** Failed attempts that made no progress before giving up. */
  retries: number;
  /** First delay; doubles each time, with jitter, up to maxDelayMs. */
  baseDelayMs: number;
  maxDelayMs: number;
}

export const defaultRetryPolicy: RetryPolicy = { retries: 5, baseDelayMs: 500, maxDelayMs: 30_000 };

/** Exponential backoff with "equal jitter": half fixed, half random, so parallel clients spread out. */
export function backoffDelay(failures: number, p: RetryPolicy, random = Math.random): number {
  const ceiling = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export async function backoff(failures: number, p: RetryPolicy, signal?: AbortSignal): Promise<void> {
  await sleep(backoffDelay(failures, p), undefined, { signal });
}
