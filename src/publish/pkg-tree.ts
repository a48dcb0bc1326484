/**
 * File operations inside a package repository target (apt:DIR, yum:DIR), a directory someone else
 * may write between two runs (a shared web root, a tree synced back from a mirror). Nothing here
 * follows a symlink inside the target: the scan uses lstat and never descends through a link; reads
 * open with O_NOFOLLOW and check through /proc/self/fd that the file opened is the one named; new
 * files are made in a fresh scratch directory and renamed into place; a file is removed only after
 * its directory's realpath is the one expected and lstat says it is a plain file.
 */
import fs from 'node:fs/promises';
import { constants, type Stats } from 'node:fs';
import path from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { PublishRefusedError } from './errors.ts';

/** Something in the target nbdforge did not write (or that changed since): path relative to the target, and why. */
export interface Foreign {
  rel: string;
  why: string;
}

/** What the scan makes of one entry: 'ok' (leave it, do not descend), 'walk' (a directory to look inside), or why it is foreign. */
export type Judge = (rel: string, st: Stats) => 'ok' | 'walk' | string;

/** Every entry under `root`, by lstat; a symlink is always foreign and never followed. */
export async function scanTree(root: string, judge: Judge): Promise<Foreign[]> {
  const out: Foreign[] = [];
  const walk = async (rel: string): Promise<void> => {
    const names = await fs.readdir(path.join(root, rel)).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? [] : Promise.reject(e)));
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(root, r));
      if (st.isSymbolicLink()) {
        out.push({ rel: r, why: 'a symlink (never followed, indexed or signed)' });
        continue;
      }
      const v = judge(r, st);
      if (v === 'walk') await walk(r);
      else if (v !== 'ok') out.push({ rel: r, why: v });
    }
  };
  await walk('');
  return out;
}

/**
 * sha256 and size of the plain file `rel` inside `realRoot` (a realpath), copied to `copyTo` (a new
 * file) when given. Opened with O_NOFOLLOW, and the descriptor's own path must be the one named:
 * a symlink in a parent directory, swapped in after the scan, is refused too.
 */
export async function readInside(realRoot: string, rel: string, copyTo?: string): Promise<{ sha256: string; size: number }> {
  const want = path.join(realRoot, rel);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(want, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new PublishRefusedError(`${rel} in the target: ${code === 'ELOOP' ? 'a symlink' : `cannot be read (${code})`}; nothing indexed or signed`);
  }
  let out: fs.FileHandle | undefined;
  try {
    const real = await fs.readlink(`/proc/self/fd/${fh.fd}`);
    if (real !== want) throw new PublishRefusedError(`${rel} in the target resolves to ${real} (a symlink on the way): nothing indexed or signed`);
    if (!(await fh.stat()).isFile()) throw new PublishRefusedError(`${rel} in the target is not a plain file: nothing indexed or signed`);
    if (copyTo) out = await fs.open(copyTo, 'wx', 0o644);
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    let size = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      if (out) await out.write(buf, 0, bytesRead);
      size += bytesRead;
    }
    return { sha256: hash.digest('hex'), size };
  } finally {
    await out?.close();
    await fh.close();
  }
}

/** `rel` (one level under an existing real directory of the target) exists as a real directory: made if missing. */
export async function ensureDirInside(realRoot: string, rel: string): Promise<void> {
  const want = path.join(realRoot, rel);
  await fs.mkdir(want).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  const st = await fs.lstat(want);
  if (!st.isDirectory() || (await fs.realpath(want)) !== want) throw new PublishRefusedError(`${rel} in the target is not a plain directory: nothing written`);
}

/** Is `rel` inside `realRoot` a plain file, reached through real directories only? */
async function plainFileInside(realRoot: string, rel: string): Promise<boolean> {
  const want = path.join(realRoot, rel);
  const parent = await fs.realpath(path.dirname(want)).catch(() => '');
  if (parent !== path.dirname(want)) return false;
  const st = await fs.lstat(want).catch(() => undefined);
  return !!st?.isFile();
}

/** Remove a file the publish records say nbdforge wrote: only a plain file at exactly that place. */
export async function removeRecorded(realRoot: string, rel: string): Promise<boolean> {
  if (!(await plainFileInside(realRoot, rel))) return false;
  await fs.unlink(path.join(realRoot, rel));
  return true;
}

/**
 * --prune-foreign: move each foreign entry into a new DIR/.nbdforge-foreign-<time>-<rand>/ (same
 * file system, so a rename; a symlink moves as the link itself). Returns that directory's name.
 */
export async function moveAside(realRoot: string, foreign: Foreign[], now: Date): Promise<string> {
  const name = `.nbdforge-foreign-${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(3).toString('hex')}`;
  const aside = path.join(realRoot, name);
  await fs.mkdir(aside, { mode: 0o700 });
  for (const f of foreign) {
    const dest = path.join(aside, f.rel);
    await fs.mkdir(path.dirname(dest), { recursive: true });
    await fs.rename(path.join(realRoot, f.rel), dest);
  }
  return name;
}

/** The refusal naming what was found (at most 20 lines), with the two ways out. */
export function foreignRefusal(target: string, foreign: Foreign[]): PublishRefusedError {
  const shown = foreign.slice(0, 20).map((f) => `  ${JSON.stringify(f.rel)}: ${f.why}`);
  if (foreign.length > 20) shown.push(`  ... and ${foreign.length - 20} more`);
  return new PublishRefusedError(
    `${target} holds ${foreign.length} thing(s) nbdforge did not write there; refusing to index or sign them (nothing written):\n${shown.join('\n')}\n` +
      '  remove them, or pass --prune-foreign to move them into .nbdforge-foreign-<time>/ in the target',
  );
}
