import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NbdforgeError } from '../errors.ts';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The kernel's start time of a process (clock ticks since boot): a pid reused later has another. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** What a lock (or a scratch directory's owner file) holds: who took it, checkable after a pid reuse. */
export function ownerStamp(pid = process.pid): string {
  return `nbdforge ${pid} ${processStartTime(pid) ?? '?'}\n`;
}

/**
 * Is the process named by an owner stamp still the one that wrote it? A stamp from another
 * program, a pid that now belongs to some other process (its start time differs), or a legacy bare
 * pid whose process is not an nbdforge one all answer no.
 */
export function ownerAlive(stamp: string): { alive: boolean; pid?: number } {
  const m = /^nbdforge (\d+) (\d+|\?)\s*$/.exec(stamp);
  if (m) {
    const pid = Number(m[1]);
    if (!processAlive(pid)) return { alive: false, pid };
    return { alive: m[2] === '?' || processStartTime(pid) === m[2], pid };
  }
  const legacy = /^\s*(\d+)\s*$/.exec(stamp);
  if (legacy) {
    const pid = Number(legacy[1]);
    if (!processAlive(pid)) return { alive: false, pid };
    const cmd = (() => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      } catch {
        return '';
      }
    })();
    return { alive: cmd.includes('nbdforge'), pid };
  }
  return { alive: false };
}

export class LockTimeoutError extends NbdforgeError {
  override name = 'LockTimeoutError';
  /** The holder's pid when the lock names one. */
  holder?: number;
}

export interface LockOptions {
  signal?: AbortSignal;
  /** Give up after this long with a LockTimeoutError naming the lock and its holder (default 60 s; 0 refuses at once). */
  timeoutMs?: number;
  /** An empty or unreadable lock older than this is a crash between create and write (default 5 s). */
  emptyStaleMs?: number;
}

export interface FileLock {
  readonly path: string;
  /** Remove the lock (once; later calls do nothing). */
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Hold `lock` (created O_EXCL, holding our owner stamp) while `fn` runs: one writer at a time across
 * processes (a partial download, the store index). The policy is acquireFileLock's; the lock's
 * directory is created first.
 */
export async function withFileLock<T>(lock: string, fn: () => Promise<T>, opts: LockOptions | AbortSignal = {}): Promise<T> {
  await fs.mkdir(path.dirname(lock), { recursive: true });
  const held = await acquireFileLock(lock, opts);
  try {
    return await fn();
  } finally {
    await held.release();
  }
}

/**
 * nbdforge's one lock policy (file-lock.sh is the same in sh): the lock is a file created O_EXCL
 * holding our owner stamp. A lock whose owner is gone (a dead pid, or a pid now another process's:
 * its start time differs), is not nbdforge, or is empty and old is stale and taken over, so a crash
 * never blocks the next run. A live holder is waited for up to `timeoutMs` (0 refuses at once), then
 * a LockTimeoutError names it; the wait ends at once when `signal` aborts (the first Ctrl-C).
 */
export async function acquireFileLock(lock: string, opts: LockOptions | AbortSignal = {}): Promise<FileLock> {
  const o: LockOptions = opts instanceof AbortSignal ? { signal: opts } : opts;
  const timeoutMs = o.timeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  for (let stale = 0; ; ) {
    o.signal?.throwIfAborted();
    try {
      await createLock(lock);
      return held(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = await lockHolder(lock, o.emptyStaleMs ?? 5_000);
      if (holder.stale) {
        if (++stale > 20) throw new Error(`cannot take the lock ${lock}: a stale lock keeps coming back`);
        await fs.rm(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() >= deadline) {
        const err = new LockTimeoutError(
          `waited ${Math.round(timeoutMs / 1000)} s for ${lock}, held by ${holder.pid ? `nbdforge process ${holder.pid}` : 'a writer that is starting'}; ` +
            `if that process is stuck, stop it (kill ${holder.pid ?? 'PID'}) or remove ${lock}`,
        );
        err.holder = holder.pid;
        throw err;
      }
      await sleep(100, undefined, { signal: o.signal });
    }
  }
}

async function createLock(lock: string): Promise<void> {
  const fh = await fs.open(lock, 'wx');
  try {
    await fh.writeFile(ownerStamp());
  } catch (err) {
    // A full disk: leave no empty lock (and no open file) behind, the caller sees the ENOSPC.
    await fh.close().catch(() => undefined);
    await fs.rm(lock, { force: true });
    throw Object.assign(err as Error, { code: (err as NodeJS.ErrnoException).code === 'EEXIST' ? 'EIO' : (err as NodeJS.ErrnoException).code });
  }
  await fh.close();
}

function held(lock: string): FileLock {
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await fs.rm(lock, { force: true });
  };
  return { path: lock, release, [Symbol.asyncDispose]: release };
}

/** Who holds `lock`: see acquireFileLock (and file-lock.sh's lk_holder) for the forms a lock may take. */
async function lockHolder(lock: string, emptyStaleMs: number): Promise<{ stale: boolean; pid?: number }> {
  const st = await fs.stat(lock).catch(() => undefined);
  if (!st) return { stale: false }; // gone in between: try again
  const text = await fs.readFile(st.isDirectory() ? path.join(lock, 'pid') : lock, 'utf8').catch(() => '');
  if (text.trim() === '') return { stale: Date.now() - st.mtimeMs > emptyStaleMs };
  const legacyDirPid = st.isDirectory() ? /^\s*(\d+)\s*$/.exec(text) : null;
  if (legacyDirPid) return { stale: !processAlive(Number(legacyDirPid[1])), pid: Number(legacyDirPid[1]) };
  const owner = ownerAlive(text);
  return { stale: !owner.alive, pid: owner.pid };
}
