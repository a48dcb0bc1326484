import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PublishRefusedError } from './errors.ts';

/**
 * Refuse a target directory we could not write, leaving nothing behind (every directory target:
 * dir, yum, apt). The directory, or when it does not exist yet its nearest existing ancestor, must
 * take a probe file, removed at once. A probe rather than access(2): root passes every access
 * check, yet a read-only mount, a full disk or an ACL still fails a write.
 */
export async function checkWritable(kind: string, root: string): Promise<void> {
  let dir = root;
  for (;;) {
    // ENOTDIR: a file stands where a parent directory should; the walk up finds and names it.
    const st = await fs.stat(dir).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' || e.code === 'ENOTDIR' ? undefined : Promise.reject(e)));
    if (st) {
      if (!st.isDirectory()) throw new PublishRefusedError(`cannot publish to ${kind}:${root}: ${dir} is not a directory`);
      break;
    }
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  const probe = path.join(dir, `.nbdforge-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await fs.writeFile(probe, '', { flag: 'wx' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new PublishRefusedError(`cannot publish to ${kind}:${root}: ${root} is not writable (${e.code ?? e.message} creating a file in ${dir}); choose a directory you can write or fix its permissions`);
  }
  await fs.rm(probe, { force: true });
}
