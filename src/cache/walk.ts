/**
 * Walking and removing below the cache root without ever following a symbolic link: sizes come from
 * lstat, directories are entered only when lstat says they are directories, and a removal first
 * checks that the entry's real parent directory lies inside the cache's real path.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { NbdforgeError } from '../errors.ts';

export interface Measured {
  /** Apparent bytes of every file below (a link counts as itself, never as its target). */
  bytes: number;
  files: number;
  /** Newest modification time of the files in the tree (the entry's own for a file, a link or an empty directory). */
  newestMtimeMs: number;
}

export function insideDir(p: string, dir: string): boolean {
  const r = path.relative(dir, p);
  return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
}

export async function measure(p: string): Promise<Measured> {
  const st = await fs.lstat(p);
  if (!st.isDirectory()) return { bytes: st.size, files: 1, newestMtimeMs: st.mtimeMs };
  // A directory's own time changes whenever an entry is made in it: its files' times say when it was written.
  const out: Measured = { bytes: 0, files: 0, newestMtimeMs: 0 };
  for (const name of await fs.readdir(p).catch(() => [] as string[])) {
    const m = await measure(path.join(p, name)).catch(() => undefined);
    if (!m) continue;
    out.bytes += m.bytes;
    out.files += m.files;
    out.newestMtimeMs = Math.max(out.newestMtimeMs, m.newestMtimeMs);
  }
  if (out.files === 0) out.newestMtimeMs = st.mtimeMs;
  return out;
}

/** Entries `depth` levels below `dir` (1: its children), descending only into real directories. */
export async function listEntries(dir: string, depth: number): Promise<string[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const out: string[] = [];
  for (const n of names.sort()) {
    const p = path.join(dir, n);
    if (depth <= 1) out.push(p);
    else if ((await fs.lstat(p)).isDirectory()) out.push(...(await listEntries(p, depth - 1)));
  }
  return out;
}

export class OutsideCacheError extends NbdforgeError {
  override name = 'OutsideCacheError';
}

/**
 * Remove one entry (a file, a link itself, or a directory tree) only when its real parent directory
 * is inside `cacheReal` (the cache's realpath). fs.rm unlinks links found inside a tree, never
 * their targets.
 */
export async function removeInside(p: string, cacheReal: string): Promise<void> {
  const parent = await fs.realpath(path.dirname(p));
  const target = path.join(parent, path.basename(p));
  if (!insideDir(target, cacheReal)) throw new OutsideCacheError(`${p} resolves to ${target}, outside the cache ${cacheReal}: not removed`);
  const st = await fs.lstat(target);
  await fs.rm(target, { recursive: st.isDirectory(), force: true });
}
