/**
 * One artifact directory of a published tree, `<family>/<release>/<module>-<key12>/`, written like
 * every file there: in a fresh mkdtemp directory beside it, O_EXCL|O_NOFOLLOW, renamed into place.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { PublishItem } from '../target.ts';
import { PLAN } from './layout.ts';
import { PROOF_FILE } from '../../artifacts/proof-record.ts';
import { type Journal, STAGE_PREFIX, mkdirs, createFile, readNoFollow } from './tree.ts';

/**
 * One artifact directory holding exactly these bytes: left alone when it already does (each file
 * re-read without following links), else built in a fresh directory beside it and renamed in,
 * the old one kept until the run succeeds. Returns the bytes written.
 */
export async function putArtifactDir(root: string, item: PublishItem, module: Buffer, manifest: Buffer, plan: Buffer, j: Journal): Promise<number> {
  const e = item.entry;
  const want: Array<[string, Buffer]> = [[e.file, module], ['manifest.json', manifest], [PLAN, plan], ...(item.proof ? [[PROOF_FILE, item.proof.bytes] as [string, Buffer]] : [])];
  const parent = path.join(root, path.posix.dirname(e.dir));
  const final = path.join(root, e.dir);
  const made = await mkdirs(root, path.posix.dirname(e.dir));
  for (const d of made) j.undo.push(() => fs.rmdir(d));
  const st = await fs.lstat(final).catch(() => undefined);
  if (st?.isDirectory()) {
    const have = await Promise.all(want.map(([n]) => readNoFollow(path.join(final, n))));
    if (have.every((h, i) => h !== undefined && Buffer.compare(h, want[i][1]) === 0)) return 0;
  }
  const stage = await fs.mkdtemp(path.join(parent, STAGE_PREFIX));
  j.undo.push(() => fs.rm(stage, { recursive: true, force: true }));
  let bytes = 0;
  for (const [n, data] of want) {
    await createFile(path.join(stage, n), data);
    bytes += data.length;
  }
  if (st) {
    const old = await fs.mkdtemp(path.join(parent, STAGE_PREFIX));
    j.undo.push(() => fs.rm(old, { recursive: true, force: true }));
    await fs.rename(final, path.join(old, 'old'));
    j.undo.push(() => fs.rename(path.join(old, 'old'), final));
    j.undo.push(() => fs.rm(final, { recursive: true, force: true }));
    j.done.push(() => fs.rm(old, { recursive: true, force: true }));
  } else {
    j.undo.push(() => fs.rm(final, { recursive: true, force: true }));
  }
  await fs.rename(stage, final);
  return bytes;
}
