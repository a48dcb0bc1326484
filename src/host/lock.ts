import fs from 'node:fs/promises';
import path from 'node:path';
import { processAlive } from '../util/file-lock.ts';

/**
 * The same host lock as emitted scripts take (emit-prelude.sh nf_lock): a directory made with an
 * atomic mkdir, holding the owner's pid. A lock whose owner is dead is taken over, so a crashed run
 * never blocks the next one; a live owner means refusal, never waiting behind a hung run.
 */
export interface HostLock {
  readonly path: string;
  release(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export async function acquireLock(dir: string, pid = process.pid): Promise<HostLock | string> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fs.mkdir(dir);
      await fs.writeFile(path.join(dir, 'pid'), `${pid}\n`);
      let released = false;
      const release = async () => {
        if (released) return;
        released = true;
        await fs.rm(dir, { recursive: true, force: true });
      };
      return { path: dir, release, [Symbol.asyncDispose]: release };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') return `cannot create the lock ${dir}: ${(err as Error).message}`;
      const owner = Number.parseInt(await fs.readFile(path.join(dir, 'pid'), 'utf8').catch(() => ''), 10);
      if (!Number.isInteger(owner) || processAlive(owner) || attempt > 0) return `another run holds the lock ${dir} (pid ${Number.isInteger(owner) ? owner : 'unknown'})`;
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
  return `cannot take the lock ${dir}`;
}

