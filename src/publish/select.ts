/**
 * Which stored artifacts a publish covers, and the proof that each is still the artifact its
 * manifest describes. Publishing never builds: a kernel the store lacks is refused, naming what it has.
 */
import { familyOfRelease } from '../families/index.ts';
import { shQuote } from '../host/quote.ts';
import path from 'node:path';
import { DirStore, type IndexEntry } from '../artifacts/dir-store.ts';
import { allChecksPassed } from '../artifacts/manifest.ts';
import { sha256 } from '../util/hash.ts';
import { NotRegularFileError, readRegular } from '../util/read-regular.ts';
import { vermagicMismatch } from '../artifacts/filed-under.ts';
import { PublishRefusedError } from './errors.ts';
import type { PublishItem } from './target.ts';
import { ProofError, readStoredProof } from '../artifacts/proof-record.ts';

export interface Selection {
  family?: string;
  /** Kernel releases; undefined = every artifact of the family (or the store). */
  kernels?: string[];
  module?: string;
}

export async function selectItems(store: DirStore, sel: Selection): Promise<PublishItem[]> {
  const module = sel.module ?? 'nbd';
  const all = (await store.list({ family: sel.family, module })).filter((e) => e.module === module);
  const held = () => (all.length ? all.map((e) => `${e.kernelRelease} (${e.family})`).join(', ') : 'nothing');
  let chosen: IndexEntry[];
  if (sel.kernels) {
    const missing = sel.kernels.filter((k) => !all.some((e) => e.kernelRelease === k));
    if (missing.length)
      throw new PublishRefusedError(
        `the store ${store.root} holds no ${module}.ko${sel.family ? ` (${sel.family})` : ''} for ${missing.join(', ')}; it holds ${held()}.` +
          ` Publishing never builds: run nbdforge build${familyOfRelease(missing[0]) ? ` --family ${familyOfRelease(missing[0])}` : ''} --kernel ${missing[0]} --store ${shQuote(store.root)} first`,
      );
    chosen = all.filter((e) => sel.kernels!.includes(e.kernelRelease));
  } else {
    chosen = all;
  }
  if (chosen.length === 0)
    throw new PublishRefusedError(`the store ${store.root} holds no ${module}.ko${sel.family ? ` for family ${sel.family}` : ''} to publish; build some with nbdforge matrix`);
  return Promise.all(chosen.map((entry) => loadItem(store, entry)));
}

/**
 * One stored artifact as a publish item, with its proof when it has one: a proof.json that does
 * not hash to what the manifest says, or proves other bytes or another kernel, is refused like a
 * damaged artifact (nothing is sent).
 */
export async function loadItem(store: DirStore, entry: IndexEntry): Promise<PublishItem> {
  const manifest = await store.readManifest(entry);
  let proof: PublishItem['proof'];
  try {
    const got = await readStoredProof(store.root, entry);
    if (got) proof = { record: got.proof, bytes: got.bytes, sha256: sha256(got.bytes) };
  } catch (err) {
    if (err instanceof ProofError) throw new PublishRefusedError(`refusing to publish ${entry.kernelRelease}: its proof is damaged or not its own (${err.message}); nothing was sent. Prove it again (nbdforge prove --kernels ${entry.kernelRelease}) or rebuild it`);
    throw err;
  }
  return { entry, manifest, modulePath: store.artifactPath(entry), manifestPath: path.join(store.root, entry.dir, 'manifest.json'), ...(proof ? { proof } : {}) };
}

/**
 * Re-hash each module against its manifest (and the manifest against the index) right before any
 * byte leaves: a store edited or damaged since the build must never reach a channel.
 */
export async function verifyItems(items: PublishItem[]): Promise<void> {
  const bad: string[] = [];
  await Promise.all(
    items.map(async ({ entry, manifest, modulePath, proof }) => {
      const where = `${modulePath}`;
      if (manifest.sha256 !== entry.sha256 || manifest.kernelRelease !== entry.kernelRelease || manifest.key !== entry.key)
        return void bad.push(`${where}: manifest and store index disagree`);
      if (!allChecksPassed(manifest)) return void bad.push(`${where}: failed build checks ${manifest.checks.filter((c) => !c.ok).map((c) => c.name).join(', ')}`);
      let ko: Buffer;
      try {
        // A regular file no larger than the manifest says: a planted FIFO or device never blocks a publish.
        ko = await readRegular(modulePath, { maxBytes: manifest.size, exactBytes: manifest.size, followSymlink: true });
      } catch (err) {
        return void bad.push(`${where}: ${err instanceof NotRegularFileError ? err.message.replace(`${modulePath}: `, '') : `cannot read (${(err as Error).message})`}`);
      }
      const got = sha256(ko);
      if (got !== manifest.sha256) return void bad.push(`${where}: sha256 ${got}, the manifest says ${manifest.sha256}`);
      // One key, one kernel: the module must be the one of the release it is published under.
      const misfiled = vermagicMismatch(ko, { kernelRelease: entry.kernelRelease, vermagic: manifest.vermagic }, where);
      if (misfiled) return void bad.push(misfiled);
      if (proof && proof.sha256 !== manifest.proof?.sha256) bad.push(`${where}: its proof.json (sha256 ${proof.sha256.slice(0, 12)}) is not the one its manifest names`);
    }),
  );
  if (bad.length) {
    // the rebuilds, filled in: each damaged item's family, kernel and store (its module path less the entry's place)
    const rebuild = [...new Set(items.filter((i) => bad.some((b) => b.startsWith(i.modulePath))).map((i) => `nbdforge build --force --family ${i.entry.family} --kernel ${i.entry.kernelRelease} --store ${shQuote(i.modulePath.slice(0, i.modulePath.lastIndexOf(`/${i.entry.dir}/`)))}`))];
    throw new PublishRefusedError(`refusing to publish: ${bad.length} stored module(s) no longer match their manifest; nothing was sent\n  ${bad.join('\n  ')}\n  rebuild with: ${rebuild.length ? rebuild.join('\n  and: ') : 'nbdforge build --force --kernel RELEASE'}`);
  }
}
