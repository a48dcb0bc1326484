import { acquireFileLock, LockTimeoutError, type FileLock } from '../util/file-lock.ts';

/**
 * The host lock of a plan: the same lock, by the same policy, as emitted scripts take (emit-prelude.sh
 * nf_lock, util/file-lock.sh): a stale one is taken over, so a crashed run never blocks the next;
 * a live holder means refusal at once, never waiting behind a hung run.
 */
export type HostLock = FileLock;

export async function acquireLock(lock: string): Promise<HostLock | string> {
  try {
    return await acquireFileLock(lock, { timeoutMs: 0 });
  } catch (err) {
    if (err instanceof LockTimeoutError) return `another run holds the lock ${lock} (pid ${err.holder ?? 'unknown'})`;
    return `cannot create the lock ${lock}: ${(err as Error).message}`;
  }
}
