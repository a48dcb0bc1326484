/**
 * The published directory as nbdforge's own: which paths it may hold (from the publish records and
 * this run's items), what else is there (foreign: refused or moved aside, never signed), and the
 * few file operations publish uses inside it, none of which follows a symlink: every component is
 * lstat'ed, new files are opened O_CREAT|O_EXCL|O_NOFOLLOW inside a fresh mkdtemp directory, and a
 * file or directory reaches its final name by rename(2), which replaces a planted link instead of
 * writing through it.
 */
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { INDEX, INDEX_SIG, SIGNING_KEY, INSTALL, SUMS, PLAN } from './layout.ts';
import { PROOF_FILE } from '../../artifacts/proof-record.ts';

export const LOCK = '.nbdforge-publish.lock';
/** Where --prune-foreign moves what nbdforge did not write: inside the target, named in no index. */
export const FOREIGN = '.nbdforge-foreign';
export const STAGE_PREFIX = '.nbdforge-stage-';
const TOP = [INDEX, INDEX_SIG, SIGNING_KEY, INSTALL, SUMS, LOCK];
const SAFE_REL = /^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/;

/** What a publish run did, to undo when it fails or finish when it succeeded. */
export interface Journal {
  /** Run in reverse when the publish fails. */
  undo: Array<() => Promise<unknown>>;
  /** Run when it succeeded. */
  done: Array<() => Promise<unknown>>;
}

/** Paths (relative to the root) nbdforge may have written: directories and regular files. */
export type Expected = Map<string, 'dir' | 'file'>;

/** An artifact directory `<family>/<release>/<module>-<key12>` and its files (proof.json when it was proven). */
export function expectArtifact(into: Expected, dir: string, file: string): void {
  if (!SAFE_REL.test(dir) || !SAFE_REL.test(file) || file.includes('/') || `${dir}/${file}`.split('/').some((s) => s === '.' || s === '..')) return;
  const parts = dir.split('/');
  for (let i = 1; i <= parts.length; i++) into.set(parts.slice(0, i).join('/'), 'dir');
  for (const f of [file, 'manifest.json', PLAN, PROOF_FILE]) into.set(`${dir}/${f}`, 'file');
}

export function expectTop(): Expected {
  return new Map(TOP.map((f) => [f, 'file' as const]));
}

/** Everything under root that `expected` does not name with its kind, top-most first (nothing followed). */
export async function findForeign(root: string, expected: Expected): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    let names: string[];
    try {
      names = await fs.readdir(rel ? path.join(root, rel) : root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !rel) return;
      throw err;
    }
    for (const name of names.sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const st = await fs.lstat(path.join(root, r));
      const want = expected.get(r);
      if (st.isSymbolicLink()) out.push(`${r} (a symlink to ${await fs.readlink(path.join(root, r)).catch(() => '?')})`);
      else if (r === FOREIGN && st.isDirectory()) continue;
      else if (want === 'dir' && st.isDirectory()) await walk(r);
      else if (want === 'file' && st.isFile()) continue;
      else out.push(`${r}${st.isDirectory() ? '/' : ''}`);
    }
  };
  await walk('');
  return out;
}

/** Move foreign paths (as findForeign names them) into <root>/.nbdforge-foreign/<stamp>/, same relative path. */
export async function moveAside(root: string, foreign: string[], stamp: string): Promise<string> {
  const base = path.join(FOREIGN, stamp);
  await mkdirs(root, base);
  for (const f of foreign) {
    const rel = f.replace(/ \(a symlink to .*\)$/s, '').replace(/\/$/, '');
    const dest = path.join(base, rel);
    await mkdirs(root, path.dirname(dest));
    await fs.rename(path.join(root, rel), path.join(root, dest));
  }
  return base;
}

/**
 * Make each missing directory of `rel` under root (mode 0755), refusing any component that exists
 * as anything but a real directory. Returns the directories it created, outermost first.
 */
export async function mkdirs(root: string, rel: string): Promise<string[]> {
  const made: string[] = [];
  let cur = root;
  for (const part of rel.split(/[\\/]/).filter((p) => p && p !== '.')) {
    if (part === '..') throw new Error(`${rel}: ".." inside a published directory`);
    cur = path.join(cur, part);
    const st = await fs.lstat(cur).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
    if (st?.isDirectory()) continue;
    if (st) throw new Error(`${cur} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; refusing to write through it`);
    await fs.mkdir(cur, { mode: 0o755 });
    made.push(cur);
  }
  return made;
}

/** A new file, never an existing one or a link: O_EXCL|O_NOFOLLOW, written and synced. */
export async function createFile(file: string, data: Uint8Array | string): Promise<void> {
  const fh = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o644);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** A regular file's bytes, or undefined when it is missing, a link or not a regular file. */
export async function readNoFollow(file: string, max = 256 * 1024 * 1024): Promise<Buffer | undefined> {
  let fh;
  try {
    fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile() || st.size > max) return undefined;
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Remove a directory nbdforge wrote (named by its records), only when it is still what it was: no
 * component a symlink and its realpath exactly root/rel.
 */
export async function removeOwnDir(root: string, rel: string): Promise<boolean> {
  if (!SAFE_REL.test(rel) || rel.split('/').some((s) => s === '.' || s === '..')) return false;
  let cur = root;
  for (const part of rel.split('/')) {
    cur = path.join(cur, part);
    const st = await fs.lstat(cur).catch(() => undefined);
    if (!st || !st.isDirectory()) return false;
  }
  const real = await fs.realpath(cur).catch(() => undefined);
  if (real !== path.join(await fs.realpath(root), rel)) return false;
  await fs.rm(cur, { recursive: true, force: true });
  return true;
}
