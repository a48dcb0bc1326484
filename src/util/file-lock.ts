import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Hold `lock` (created O_EXCL, holding our pid) while `fn` runs: one writer at a time across
 * processes (a partial download, the store index). A lock whose process is gone is taken over,
 * so a crash never blocks the next run. Waiting is bounded by `signal`.
 */
export async function withFileLock<T>(lock: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  await fs.mkdir(path.dirname(lock), { recursive: true });
  for (;;) {
    signal?.throwIfAborted();
    try {
      const fh = await fs.open(lock, 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const pid = Number(await fs.readFile(lock, 'utf8').catch(() => ''));
      if (Number.isInteger(pid) && pid > 0 && !processAlive(pid)) await fs.rm(lock, { force: true });
      else await sleep(100, undefined, { signal });
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
