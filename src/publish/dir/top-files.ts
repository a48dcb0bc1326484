/**
 * The files at the top of a published directory, rewritten on every publish: install.sh (with the
 * pinned key), signing-key.gpg, SHA256SUMS over every file the index names (and the per-release
 * copies of release-files.ts), then index.json and its
 * detached signature, last, so a reader never gets an index naming files not yet written.
 *
 * All of them are first written into a fresh mkdtemp directory inside the target (so gpg and every
 * write land in a directory nobody else could have planted anything in), then renamed into place;
 * the files they replace are kept (hard links) until the caller says the run succeeded, so a run
 * that fails leaves the old set.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { sha256 } from '../../util/hash.ts';
import { type DirIndex, INDEX, INDEX_SIG, SIGNING_KEY, INSTALL, SUMS, renderIndex } from './layout.ts';
import { signDetached, exportPublicKey } from './gpg.ts';
import { renderInstallSh } from './install-sh.ts';
import { type Journal, createFile, STAGE_PREFIX } from './tree.ts';
import { releaseSums } from './release-files.ts';

export type { Journal };

export async function writeTopFiles(root: string, idx: DirIndex, o: { fingerprint?: string; url?: string; env: NodeJS.ProcessEnv }, j: Journal): Promise<void> {
  const text = renderIndex(idx);
  const fpr = o.fingerprint;
  const key = fpr ? await exportPublicKey(fpr, o.env) : undefined;
  const install = renderInstallSh({ fingerprint: fpr, publicKey: key, url: o.url, generator: idx.generator });
  const stage = await fs.mkdtemp(path.join(root, STAGE_PREFIX));
  const dropStage = () => fs.rm(stage, { recursive: true, force: true });
  j.undo.push(dropStage);
  j.done.push(dropStage);
  const sums: string[] = [];
  for (const a of idx.artifacts) sums.push(`${a.sha256}  ${a.path}`, `${a.manifestSha256}  ${a.dir}/manifest.json`, `${a.planSha256}  ${a.plan}`, ...(a.proof ? [`${a.proofSha256}  ${a.proof}`] : []));
  sums.push(...releaseSums(idx.artifacts));
  sums.push(`${sha256(install)}  ${INSTALL}`, `${sha256(text)}  ${INDEX}`, ...(key ? [`${sha256(key)}  ${SIGNING_KEY}`] : []));
  await createFile(path.join(stage, INSTALL), install);
  if (key) await createFile(path.join(stage, SIGNING_KEY), key);
  await createFile(path.join(stage, SUMS), sums.join('\n') + '\n');
  // The signature is made over the exact bytes that then become index.json.
  await createFile(path.join(stage, INDEX), text);
  if (fpr) await signDetached(fpr, path.join(stage, INDEX), path.join(stage, INDEX_SIG), o.env);

  // Commit: renames only (no data written), index.json last. Each replaced file is kept as a link
  // in the stage directory until the end, and put back if anything fails.
  const order = [INSTALL, SIGNING_KEY, SUMS, INDEX_SIG, INDEX];
  for (const name of order) {
    const dest = path.join(root, name);
    const kept = path.join(stage, `old.${name}`);
    const had = await fs.lstat(dest).then((st) => st.isFile(), () => false);
    if (had) {
      await fs.link(dest, kept);
      j.undo.push(() => fs.rename(kept, dest));
    } else {
      j.undo.push(() => fs.rm(dest, { force: true }));
    }
    const staged = path.join(stage, name);
    if (await fs.lstat(staged).then(() => true, () => false)) await fs.rename(staged, dest);
    else if (had) await fs.unlink(dest);
  }
}
