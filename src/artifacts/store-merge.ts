import fs from 'node:fs/promises';
import path from 'node:path';
import { ArtifactRefusedError, DirStore } from './dir-store.ts';
import { describe } from './filed-under.ts';
import { type Manifest, ManifestError, allChecksPassed, parseManifest } from './manifest.ts';
import { StoreCorruptError, type IndexEntry } from './store-layout.ts';
import { sha256 } from '../util/hash.ts';
import { NotRegularFileError, readRegular } from '../util/read-regular.ts';
import { ProofError, readStoredProof, writeStoredProof, type ProofRecord } from './proof-record.ts';

export interface MergeResult {
  source: string;
  kernelRelease: string;
  family: string;
  module: string;
  key: string;
  /** added: new to the target; same: the target already holds this key; older: the target holds a newer build of that kernel; refused: it did not verify. */
  status: 'added' | 'same' | 'older' | 'refused';
  detail?: string;
}

/** Bounds on what a source may make us read (real manifests are a few KB, debug modules a few MB). */
const MAX_MANIFEST = 1 << 20;
const MAX_DEBUG = 64 << 20;

/** The bytes an artifact's identity rests on: two entries are one artifact only if these agree. */
const identity = (e: IndexEntry) => `${e.family}/${e.kernelRelease}/${e.module}/${e.sha256}`;

/**
 * Merge stores built apart (a matrix split across CI runners) into one. Content addressing makes
 * this safe only if a key means one thing: the same key with other bytes or for another kernel in
 * two places (two sources, or a source and the target) is refused naming both, whatever the order
 * of the sources. Every artifact taken is read as regular files only (no symlink followed, no FIFO
 * or device opened, sizes capped by its manifest), re-hashed against its manifest (a damaged one is
 * refused and named, nothing of its content printed), and put into the target, which checks its
 * vermagic against the release it is filed under. For one kernel built with other inputs the newer
 * build wins, as a rebuild would. A proof (proof.json) comes along with its artifact, and to an
 * artifact the target already holds without one; a proof that does not match its artifact (other
 * bytes, another kernel, a sha256 the manifest does not name) refuses the artifact like damage
 * would. Sources are only read.
 */
export async function mergeStores(sources: string[], into: DirStore, onResult: (r: MergeResult) => void = () => {}): Promise<MergeResult[]> {
  for (const src of sources) await mustBeStoreDir(src);
  const out: MergeResult[] = [];
  const report = (r: MergeResult) => (out.push(r), onResult(r));
  const held = new Map<string, IndexEntry>();
  const claims = new Map<string, Array<{ where: string; entry: IndexEntry }>>();
  const claim = (where: string, entry: IndexEntry) => claims.set(entry.key, [...(claims.get(entry.key) ?? []), { where, entry }]);
  for (const e of await into.list()) {
    held.set(`${e.family}/${e.kernelRelease}/${e.module}`, e);
    claim(`the target ${into.root}`, e);
  }
  // Every source's index first: a conflict is found whichever source comes first.
  const listed: Array<{ src: string; store: DirStore; entries: IndexEntry[] }> = [];
  for (const src of sources) {
    const store = new DirStore(src);
    const entries = await store.list();
    for (const e of entries) claim(src, e);
    listed.push({ src, store, entries });
  }

  for (const { src, store, entries } of listed) {
    for (const e of entries) {
      const base = { source: src, kernelRelease: e.kernelRelease, family: e.family, module: e.module, key: e.key };
      const others = claims.get(e.key)!.filter((c) => identity(c.entry) !== identity(e));
      if (others.length) {
        const o = others[0];
        const what = o.entry.sha256 === e.sha256 ? `is filed there as ${describe(o.entry)}` : `names other bytes there (${describe(o.entry)})`;
        report({ ...base, status: 'refused', detail: `key ${e.key.slice(0, 12)} ${what} in ${o.where}: one key, one artifact; refused from ${src}` });
        continue;
      }
      const mine = held.get(`${e.family}/${e.kernelRelease}/${e.module}`);
      const proof = await proofOf(store, e);
      if (proof && 'why' in proof) {
        report({ ...base, status: 'refused', detail: proof.why });
        continue;
      }
      if (mine?.key === e.key) {
        const carried = proof && !(await readStoredProof(into.root, mine).catch(() => undefined));
        if (carried) await writeStoredProof(into.root, mine, proof.proof, proof.bytes);
        report({ ...base, status: 'same', ...(carried ? { detail: 'its proof added' } : {}) });
        continue;
      }
      const taken = await readArtifact(store, e);
      if (!taken.ok) {
        report({ ...base, status: 'refused', detail: taken.why });
        continue;
      }
      if (mine && mine.createdAt >= taken.manifest.createdAt) {
        report({ ...base, status: 'older', detail: `the target's build ${mine.key.slice(0, 12)} of ${mine.createdAt} is newer` });
        continue;
      }
      try {
        // the manifest names its proof only once proof.json is beside it (writeStoredProof)
        const { proof: _named, ...manifest } = taken.manifest;
        const entry = await into.put(manifest, { module: taken.module, debug: taken.debug });
        if (proof) await writeStoredProof(into.root, entry, proof.proof, proof.bytes);
        held.set(`${e.family}/${e.kernelRelease}/${e.module}`, entry);
        report({ ...base, status: 'added' });
      } catch (err) {
        if (!(err instanceof ArtifactRefusedError)) throw err;
        report({ ...base, status: 'refused', detail: err.message });
      }
    }
  }
  return out;
}

/** The source artifact's proof: none, a valid one, or why it is refused. */
/** A source that is not a directory (a mistyped path, a file) is not a store: refused before anything is merged (exit 3). */
async function mustBeStoreDir(src: string): Promise<void> {
  const st = await fs.lstat(src).catch((e: NodeJS.ErrnoException) => e.code ?? 'unreadable');
  if (typeof st === 'string') throw new StoreCorruptError(`${src}: not a store (${st === 'ENOENT' ? 'no such directory' : `unreadable: ${st}`}); nothing merged`);
  if (!st.isDirectory()) throw new StoreCorruptError(`${src}: not a store (${st.isSymbolicLink() ? 'a symbolic link' : 'not a directory'}); nothing merged`);
}

async function proofOf(store: DirStore, e: IndexEntry): Promise<{ proof: ProofRecord; bytes: Buffer } | { why: string } | undefined> {
  try {
    return await readStoredProof(store.root, e);
  } catch (err) {
    if (err instanceof ProofError || err instanceof ManifestError || err instanceof NotRegularFileError) return { why: `proof: ${err.message}` };
    if (err instanceof StoreCorruptError) return undefined; // the artifact itself is judged below
    throw err;
  }
}

type Taken = { ok: true; manifest: Manifest; module: Buffer; debug: Buffer } | { ok: false; why: string };

/** An artifact of an untrusted store, read as regular files within its manifest's sizes and re-hashed. */
async function readArtifact(store: DirStore, e: IndexEntry): Promise<Taken> {
  const dir = path.join(store.root, e.dir);
  try {
    // No component of the artifact's directory may be a symlink: its files are the source's own.
    const [realRoot, realDir] = await Promise.all([fs.realpath(store.root), fs.realpath(dir)]);
    if (realDir !== path.join(realRoot, e.dir)) return { ok: false, why: `${dir}: reached through a symlink; only the store's own directories are read` };
    const file = store.artifactPath(e, 'manifest.json');
    let manifest: Manifest;
    try {
      manifest = parseManifest(JSON.parse((await readRegular(file, { maxBytes: MAX_MANIFEST })).toString('utf8')), file);
    } catch (err) {
      if (err instanceof SyntaxError) return { ok: false, why: `${file}: not JSON` };
      throw err;
    }
    for (const f of ['key', 'family', 'kernelRelease', 'module', 'file', 'sha256'] as const)
      if (manifest[f] !== e[f]) return { ok: false, why: `${file}: its ${f} differs from the index's` };
    if (!allChecksPassed(manifest)) return { ok: false, why: `${file}: records failed checks` };
    const modulePath = store.artifactPath(e);
    const module = await readRegular(modulePath, { maxBytes: manifest.size, exactBytes: manifest.size });
    // Nothing of a refused file's content is printed, not even digits of its hash.
    if (sha256(module) !== manifest.sha256) return { ok: false, why: `${modulePath}: its bytes do not hash to the sha256 its manifest names` };
    const debugPath = store.artifactPath(e, manifest.debugFile);
    const debug = await readRegular(debugPath, { maxBytes: MAX_DEBUG });
    if (sha256(debug) !== manifest.debugSha256) return { ok: false, why: `${debugPath}: its bytes do not hash to the debugSha256 its manifest names` };
    return { ok: true, manifest, module, debug };
  } catch (err) {
    if (err instanceof NotRegularFileError || err instanceof ManifestError) return { ok: false, why: err.message };
    const code = (err as NodeJS.ErrnoException).code;
    if (code) return { ok: false, why: `${dir}: ${code === 'ENOENT' ? 'missing' : `unreadable (${code})`}` };
    throw err;
  }
}
