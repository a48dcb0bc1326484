import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Hold `<part>.lock` (O_EXCL, holds our pid) while `fn` runs, so two processes never append to the
 * same partial file. A lock whose process is gone is taken over. Waiting is bounded by `signal`.
 */
export async function withPartLock<T>(part: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  const lock = `${part}.lock`;
  await fs.mkdir(path.dirname(part), { recursive: true });
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
      if (Number.isInteger(pid) && pid > 0 && !alive(pid)) await fs.rm(lock, { force: true });
      else await sleep(100, undefined, { signal });
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(lock, { force: true });
  }
}
