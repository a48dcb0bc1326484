import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PublishRefusedError } from '../errors.ts';

/**
 * Refuse a target directory we could not write, leaving nothing behind: the directory (or, when it
 * does not exist yet, its nearest existing ancestor) must be a directory where a probe file can be
 * created and removed. A probe rather than access(2): root passes every access check, yet a
 * read-only mount or a full disk still fails a write.
 */
export async function checkWritable(root: string): Promise<void> {
  let dir = root;
  for (;;) {
    const st = await fs.stat(dir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' || err.code === 'ENOTDIR' ? undefined : Promise.reject(err)));
    if (st) {
      if (!st.isDirectory()) throw new PublishRefusedError(`cannot publish to ${root}: ${dir} is not a directory`);
      break;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const probe = path.join(dir, `.nbdforge-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.writeFile(probe, 'probe');
  } catch (err) {
    throw new PublishRefusedError(`cannot publish to ${root}: ${dir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  } finally {
    await fs.rm(probe, { force: true });
  }
}
