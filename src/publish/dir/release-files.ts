/**
 * Per-release copies: <dir>/kernels/<release>/{nbd.ko, prepare-host.sh[, proof.json]}, the files of the
 * one artifact the index lists for that release, at a path install.sh knows before it has read the
 * index. So install.sh fetches them in the same curl run as index.json and its signature, and checks
 * them against the signed index afterwards exactly as it checks the artifact directory's files (they are
 * byte copies of those), falling back to the index's own paths when they do not match (a re-publish
 * between its downloads, a tree written before this folder existed).
 *
 * Written like the rest of the tree: each file into a fresh mkdtemp directory inside the target
 * (O_EXCL|O_NOFOLLOW), then renamed into place, so a client never reads half a file and a planted link
 * is replaced, never written through; the file it replaces (or removes) is kept as a hard link until
 * the run succeeds and put back when it fails. A file that already holds the right bytes is left alone.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { DirIndexEntry } from './layout.ts';
import { PLAN } from './layout.ts';
import { PROOF_FILE } from '../../artifacts/proof-record.ts';
import { type Expected, type Journal, STAGE_PREFIX, createFile, mkdirs, readNoFollow, removeOwnDir } from './tree.ts';

export const BY_RELEASE = 'kernels';
/** The name install.sh fetches, whatever the artifact's own file is called (it installs nbd). */
export const RELEASE_MODULE = 'nbd.ko';
const NAMES = [RELEASE_MODULE, PLAN, PROOF_FILE];
const RELEASE = /^[A-Za-z0-9._+-]+$/;

const okRelease = (r: string) => RELEASE.test(r) && r !== '.' && r !== '..';

/** The releases that get a folder: those the index lists exactly once, for an nbd.ko (install.sh refuses the others). */
export function releaseCopies(artifacts: DirIndexEntry[]): DirIndexEntry[] {
  const count = new Map<string, number>();
  for (const a of artifacts) count.set(a.kernelRelease, (count.get(a.kernelRelease) ?? 0) + 1);
  return artifacts.filter((a) => count.get(a.kernelRelease) === 1 && a.file === RELEASE_MODULE && okRelease(a.kernelRelease));
}

/** SHA256SUMS lines for the copies (the same hashes as the artifact directory's files). */
export function releaseSums(artifacts: DirIndexEntry[]): string[] {
  return releaseCopies(artifacts).flatMap((a) => {
    const d = `${BY_RELEASE}/${a.kernelRelease}`;
    return [`${a.sha256}  ${d}/${RELEASE_MODULE}`, `${a.planSha256}  ${d}/${PLAN}`, ...(a.proof ? [`${a.proofSha256}  ${d}/${PROOF_FILE}`] : [])];
  });
}

/** What may be in kernels/: a folder per release (of the records or this run) with its files. */
export function expectRelease(into: Expected, release: string): void {
  if (!okRelease(release)) return;
  into.set(BY_RELEASE, 'dir');
  into.set(`${BY_RELEASE}/${release}`, 'dir');
  for (const n of NAMES) into.set(`${BY_RELEASE}/${release}/${n}`, 'file');
}

export interface ReleaseBytes {
  module: Buffer;
  plan: Buffer;
  proof?: Buffer;
}

/**
 * Make kernels/<release>/ hold exactly `files` for each release of releaseCopies(artifacts); returns the
 * bytes written per release. `files` maps a release to the bytes of its artifact's files.
 */
export async function writeReleaseFiles(root: string, artifacts: DirIndexEntry[], files: Map<string, ReleaseBytes>, j: Journal): Promise<Map<string, number>> {
  const written = new Map<string, number>();
  const copies = releaseCopies(artifacts).filter((a) => files.has(a.kernelRelease));
  if (!copies.length) return written;
  const made = await mkdirs(root, BY_RELEASE);
  for (const d of made) j.undo.push(() => fs.rmdir(d));
  const stage = await fs.mkdtemp(path.join(root, BY_RELEASE, STAGE_PREFIX));
  const dropStage = () => fs.rm(stage, { recursive: true, force: true });
  j.undo.push(dropStage);
  j.done.push(dropStage);
  let n = 0;
  for (const a of copies) {
    const f = files.get(a.kernelRelease)!;
    const dir = `${BY_RELEASE}/${a.kernelRelease}`;
    for (const d of await mkdirs(root, dir)) j.undo.push(() => fs.rmdir(d));
    const want: Array<[string, Buffer | undefined]> = [[RELEASE_MODULE, f.module], [PLAN, f.plan], [PROOF_FILE, f.proof]];
    let bytes = 0;
    for (const [name, data] of want) bytes += await putFile(path.join(root, dir, name), data, path.join(stage, String(n++)), j);
    written.set(a.kernelRelease, bytes);
  }
  return written;
}

/** dest holds data afterwards (or is gone, for undefined); `tmp` is a fresh name in the stage. Returns bytes written. */
async function putFile(dest: string, data: Buffer | undefined, tmp: string, j: Journal): Promise<number> {
  const st = await fs.lstat(dest).catch(() => undefined);
  if (data && st?.isFile()) {
    const have = await readNoFollow(dest);
    if (have && Buffer.compare(have, data) === 0) return 0;
  }
  if (!data && !st) return 0;
  if (data) await createFile(`${tmp}.new`, data);
  if (st) {
    // kept until the run succeeds (the stage goes then), put back if it fails
    await fs.link(dest, `${tmp}.old`);
    j.undo.push(() => fs.rename(`${tmp}.old`, dest));
  } else {
    j.undo.push(() => fs.rm(dest, { force: true }));
  }
  if (data) await fs.rename(`${tmp}.new`, dest);
  else await fs.unlink(dest);
  return data?.length ?? 0;
}

/** After a successful run: the release folders the new index no longer gives a copy (only nbdforge's own). */
export async function removeStaleReleases(root: string, artifacts: DirIndexEntry[]): Promise<void> {
  const keep = new Set(releaseCopies(artifacts).map((a) => a.kernelRelease));
  const names = await fs.readdir(path.join(root, BY_RELEASE)).catch(() => [] as string[]);
  for (const r of names) if (!keep.has(r) && !r.startsWith(STAGE_PREFIX) && okRelease(r)) await removeOwnDir(root, `${BY_RELEASE}/${r}`).catch(() => false);
}
