/**
 * The files at the top of a published directory, rewritten on every publish: install.sh (with the
 * pinned key), signing-key.gpg, SHA256SUMS over every file the index names, then index.json and its
 * detached signature, last, so a reader never gets an index naming files not yet written.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../../util/atomic.ts';
import { sha256 } from '../../util/hash.ts';
import { type DirIndex, INDEX, INDEX_SIG, SIGNING_KEY, INSTALL, SUMS, renderIndex } from './layout.ts';
import { signDetached, exportPublicKey } from './gpg.ts';
import { renderInstallSh } from './install-sh.ts';

export async function writeTopFiles(root: string, idx: DirIndex, o: { fingerprint?: string; url?: string; env: NodeJS.ProcessEnv }): Promise<void> {
  const text = renderIndex(idx);
  const fpr = o.fingerprint;
  const key = fpr ? await exportPublicKey(fpr, o.env) : undefined;
  const install = renderInstallSh({ fingerprint: fpr, publicKey: key, url: o.url, generator: idx.generator });
  await writeFileAtomic(path.join(root, INSTALL), install);
  if (key) await writeFileAtomic(path.join(root, SIGNING_KEY), key);
  else await fs.rm(path.join(root, SIGNING_KEY), { force: true });
  const sums: string[] = [];
  for (const a of idx.artifacts) sums.push(`${a.sha256}  ${a.path}`, `${a.manifestSha256}  ${a.dir}/manifest.json`, `${a.planSha256}  ${a.plan}`);
  sums.push(`${sha256(install)}  ${INSTALL}`, `${sha256(text)}  ${INDEX}`, ...(key ? [`${sha256(key)}  ${SIGNING_KEY}`] : []));
  await writeFileAtomic(path.join(root, SUMS), sums.join('\n') + '\n');
  // The signature is made over the exact bytes that then become index.json.
  const staged = path.join(root, `.${INDEX}.new`);
  const stagedSig = path.join(root, `.${INDEX_SIG}.new`);
  await fs.writeFile(staged, text);
  try {
    if (fpr) {
      await signDetached(fpr, staged, stagedSig, o.env);
      await fs.rename(stagedSig, path.join(root, INDEX_SIG));
    } else {
      await fs.rm(path.join(root, INDEX_SIG), { force: true });
    }
    await fs.rename(staged, path.join(root, INDEX));
  } finally {
    await fs.rm(staged, { force: true });
    await fs.rm(stagedSig, { force: true });
  }
}
