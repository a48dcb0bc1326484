import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../util/hash.ts';

const HEX64 = /^[0-9a-f]{64}$/;

export function assertSha256(sha256: string): string {
  const s = sha256.toLowerCase();
  if (!HEX64.test(s)) throw new TypeError(`not a sha256 hex digest: ${JSON.stringify(sha256)}`);
  return s;
}

/** `<cacheDir>/sha256/<ab>/<hash>`: the name is the content, so a file is never stale, only corrupt. */
export function cachePath(cacheDir: string, sha256: string): string {
  const s = assertSha256(sha256);
  return path.join(cacheDir, 'sha256', s.slice(0, 2), s);
}

/** Partial downloads live beside the cache, keyed by the expected hash so a later run can resume. */
export function partPath(cacheDir: string, sha256: string): string {
  return path.join(cacheDir, 'partial', `${assertSha256(sha256)}.part`);
}

/**
 * The cached file for `sha256`, or undefined. Policy: a cached file is re-hashed on every use.
 * Hashing runs at several hundred MB/s, a kernel SRPM is under 100 MB, and a file that rotted on
 * disk (or was edited by hand) must not reach a build. A file that fails is removed so the next
 * download replaces it.
 */
export async function lookupCached(cacheDir: string, sha256: string, size?: number): Promise<string | undefined> {
  const file = cachePath(cacheDir, sha256);
  const st = await fs.stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  if ((size !== undefined && st.size !== size) || (await sha256File(file)) !== sha256.toLowerCase()) {
    await fs.rm(file, { force: true });
    return undefined;
  }
  return file;
}

/** Publish a finished, verified temp file into the cache with one rename (same filesystem). */
export async function commitToCache(tmp: string, cacheDir: string, sha256: string): Promise<string> {
  const file = cachePath(cacheDir, sha256);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.chmod(tmp, 0o644);
  await fs.rename(tmp, file);
  return file;
}
