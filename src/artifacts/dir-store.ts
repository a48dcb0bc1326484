import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Manifest, ManifestError, parseManifest, allChecksPassed } from './manifest.ts';
import { type IndexEntry, type StoreIndex, StoreCorruptError, jsonErrorWithoutContent, parseIndex, isLayoutDir, isSafeName, layoutDir } from './store-layout.ts';
import { scanLayout } from './store-scan.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { sha256File } from '../util/hash.ts';
import { withFileLock } from '../util/file-lock.ts';
import { describe, vermagicMismatch } from './filed-under.ts';
import { NotRegularFileError, readRegular } from '../util/read-regular.ts';
import { NbdforgeError } from '../errors.ts';

export { type IndexEntry, type StoreIndex, StoreCorruptError } from './store-layout.ts';

export class StoreError extends NbdforgeError {
  override name = 'StoreError';
}

/** An artifact whose bytes or key contradict where it would be filed: refused, nothing touched (exit 3). */
export class ArtifactRefusedError extends StoreError {
  override name = 'ArtifactRefusedError';
  override readonly exitCode = 3;
}

/** Bounds on what is read whole into memory from a store (real ones are a few KB). */
const MAX_INDEX_BYTES = 64 * 1024 * 1024;
const MAX_MANIFEST_BYTES = 1024 * 1024;

export interface DirStoreOptions {
  /**
   * Set by writers (build): a corrupt index is kept aside as index.json.corrupt-<time> and rebuilt
   * from the artifacts that still verify, and this is told what happened. Readers (prepare-host)
   * leave it unset: a corrupt store is refused with the file named.
   */
  onRepair?: (message: string) => void;
  signal?: AbortSignal;
  /** How long a writer waits for the index lock before giving up (default 30 s). */
  lockTimeoutMs?: number;
}

/** Verdict on one stored artifact: its bytes re-hashed against its manifest. */
export type ArtifactHealth = { ok: true; manifest: Manifest } | { ok: false; why: string };

/**
 * The default store: a directory.
 *   <root>/index.json
 *   <root>/<family>/<kernelRelease>/<module>-<key12>/{<module>.ko, <module>.ko.debug, manifest.json}
 * An artifact directory appears whole (written beside, then renamed in: a replacement takes a new
 * name and the old one is removed only after the index stopped naming it), and the index is
 * rewritten atomically under a lock file. Every name read back is checked against the layout, so
 * nothing outside the store's own artifact directories is ever read or removed.
 */
export class DirStore {
  constructor(
    readonly root: string,
    private readonly opts: DirStoreOptions = {},
  ) {}

  get indexFile(): string {
    return path.join(this.root, 'index.json');
  }

  async readIndex(): Promise<StoreIndex> {
    try {
      return await this.readIndexStrict();
    } catch (err) {
      if (!(err instanceof StoreCorruptError) || !this.opts.onRepair) throw err;
      return this.updateIndex(() => {}); // repairs under the lock (updateIndex reads, finds it corrupt, rebuilds)
    }
  }

  private async readIndexStrict(): Promise<StoreIndex> {
    let text: string;
    try {
      // A FIFO or a device planted as index.json must not hang or flood the reader.
      text = (await readRegular(this.indexFile, { maxBytes: MAX_INDEX_BYTES, followSymlink: true })).toString('utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schema: 1, artifacts: [] };
      if (err instanceof NotRegularFileError) throw new StoreCorruptError(`${err.message.replace(/more than the (\d+) allowed/, 'not a store index (limit $1)')}${this.fix()}`);
      throw new StoreCorruptError(`${this.indexFile}: cannot read it (${(err as Error).message})${this.fix()}`, { cause: err });
    }
    try {
      return parseIndex(text, this.indexFile);
    } catch (err) {
      throw new StoreCorruptError(`${(err as Error).message}${this.fix()}`);
    }
  }

  private fix(): string {
    return `; rebuild it with \`nbdforge build --force --store ${this.root}\` (build repairs the index), or point --store/--from at a good store`;
  }

  async findByKey(key: string): Promise<IndexEntry | undefined> {
    return (await this.readIndex()).artifacts.find((a) => a.key === key);
  }

  async list(filter: { family?: string; kernelRelease?: string; module?: string } = {}): Promise<IndexEntry[]> {
    return (await this.readIndex()).artifacts.filter(
      (a) =>
        (!filter.family || a.family === filter.family) &&
        (!filter.kernelRelease || a.kernelRelease === filter.kernelRelease) &&
        (!filter.module || a.module === filter.module),
    );
  }

  /** The manifest of an indexed artifact, validated and checked to describe that same artifact. */
  async readManifest(entry: IndexEntry): Promise<Manifest> {
    const file = this.artifactPath(entry, 'manifest.json');
    let text: string;
    try {
      const st = await fs.stat(file);
      if (st.size > MAX_MANIFEST_BYTES) throw new Error(`${st.size} bytes, more than a manifest can be`);
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : (err as Error).message;
      throw new StoreCorruptError(`${file}: ${why}${this.fix()}`, { cause: err });
    }
    let m: Manifest;
    try {
      m = parseManifest(JSON.parse(text), file);
    } catch (err) {
      const why = err instanceof ManifestError ? err.message : `${file}: not JSON (${jsonErrorWithoutContent(err)})`;
      throw new StoreCorruptError(`${why}${this.fix()}`, { cause: err });
    }
    for (const f of ['key', 'family', 'kernelRelease', 'module', 'file', 'sha256'] as const)
      if (m[f] !== entry[f]) throw new StoreCorruptError(`${file}: its ${f} ${JSON.stringify(m[f])} differs from the index's ${JSON.stringify(entry[f])}${this.fix()}`);
    return m;
  }

  /** Path of a file of an artifact; refuses names that are not the layout's own. */
  artifactPath(entry: IndexEntry, file = entry.file): string {
    if (!isLayoutDir(entry.dir, entry) || !isSafeName(file)) throw new StoreCorruptError(`${this.indexFile}: artifact path ${JSON.stringify(`${entry.dir}/${file}`)} is not the store's own`);
    return path.join(this.root, entry.dir, file);
  }

  /** Re-hash the stored module against its manifest and the index (a cache hit must not lie). */
  async verify(entry: IndexEntry): Promise<ArtifactHealth> {
    let manifest: Manifest;
    try {
      manifest = await this.readManifest(entry);
    } catch (err) {
      return { ok: false, why: (err as Error).message.split('; rebuild it')[0] };
    }
    if (!allChecksPassed(manifest)) return { ok: false, why: 'its manifest records failed checks' };
    const file = this.artifactPath(entry);
    const got = await sha256File(file).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'missing' : `unreadable (${err.code ?? err.message})`));
    if (got !== manifest.sha256) return { ok: false, why: got.length === 64 ? `${file}: sha256 ${got.slice(0, 12)}, the manifest says ${manifest.sha256.slice(0, 12)}` : `${file}: ${got}` };
    return { ok: true, manifest };
  }

  /**
   * Store a verified module. `files` maps the manifest's file and debugFile names to paths of
   * finished files (or to their bytes); they are copied, re-hashed against the manifest, the module's vermagic is read
   * against the release it is filed under, and then they are published at once. One key names one
   * kernel: a key the index already gives to another kernel, family or module is refused (a forged
   * or mislabelled artifact must never replace, or delete, the artifact that owns the key). The
   * artifact directory is renamed in under the index lock, so a refusal or a lock that times out
   * leaves nothing behind.
   */
  async put(manifest: Manifest, files: { module: string | Uint8Array; debug: string | Uint8Array }): Promise<IndexEntry> {
    parseManifest(manifest);
    if (!allChecksPassed(manifest)) {
      const bad = manifest.checks.filter((c) => !c.ok).map((c) => c.name);
      throw new StoreError(`refusing to store ${manifest.module} for ${manifest.kernelRelease}: failed checks ${bad.join(', ')}`);
    }
    const base = layoutDir(manifest.family, manifest.kernelRelease, manifest.module, manifest.key);
    const tmp = path.join(this.root, `${base}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(tmp, { recursive: true });
    let rel: string | undefined;
    let indexed = false;
    let replaced: IndexEntry[] = [];
    try {
      // Bytes a caller already read and checked (merge) are written; a path is copied.
      const place = (from: string | Uint8Array, to: string) => (typeof from === 'string' ? fs.copyFile(from, to) : fs.writeFile(to, from, { flag: 'wx' }));
      await place(files.module, path.join(tmp, manifest.file));
      await place(files.debug, path.join(tmp, manifest.debugFile));
      if ((await sha256File(path.join(tmp, manifest.file))) !== manifest.sha256) throw new StoreError('module does not match the manifest sha256');
      if ((await sha256File(path.join(tmp, manifest.debugFile))) !== manifest.debugSha256) throw new StoreError('debug module does not match the manifest debugSha256');
      const misfiled = vermagicMismatch(await fs.readFile(path.join(tmp, manifest.file)), manifest, `${manifest.module}.ko`);
      if (misfiled) throw new ArtifactRefusedError(`refusing to store ${describe(manifest)}: ${misfiled}; nothing stored`);
      await writeFileAtomic(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      const entry = (dir: string): IndexEntry => ({
        key: manifest.key,
        family: manifest.family,
        kernelRelease: manifest.kernelRelease,
        module: manifest.module,
        dir,
        file: manifest.file,
        sha256: manifest.sha256,
        vermagic: manifest.vermagic,
        createdAt: manifest.createdAt,
      });
      await this.updateIndex(async (idx) => {
        const clash = idx.artifacts.find((a) => a.key === manifest.key && (a.family !== manifest.family || a.kernelRelease !== manifest.kernelRelease || a.module !== manifest.module));
        if (clash)
          throw new ArtifactRefusedError(
            `refusing to store ${describe(manifest)}: its build key ${manifest.key.slice(0, 12)} is already the key of ${describe(clash)} in ${this.root}; ` +
              'one key names one kernel (a mislabelled or forged artifact); nothing stored, nothing replaced',
          );
        rel = await this.renameIn(tmp, base);
        const e = entry(rel);
        // One artifact per (family, kernel, module): a rebuild with other inputs replaces the old entry.
        const same = (a: IndexEntry) => a.family === e.family && a.kernelRelease === e.kernelRelease && a.module === e.module;
        replaced = idx.artifacts.filter((a) => (same(a) || a.key === e.key) && a.dir !== e.dir);
        idx.artifacts = idx.artifacts.filter((a) => !same(a) && a.key !== e.key);
        idx.artifacts.push(e);
        idx.artifacts.sort((a, b) => a.family.localeCompare(b.family) || a.kernelRelease.localeCompare(b.kernelRelease, undefined, { numeric: true }));
      }, () => (indexed = true));
      // Only after the index stopped pointing at them, and only the store's own artifact directories.
      for (const old of replaced) await this.removeArtifactDir(old);
      return entry(rel!);
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      // Renamed in but the index was never written: that directory is nobody's.
      if (rel && !indexed) await fs.rm(path.join(this.root, rel), { recursive: true, force: true });
      // and the kernel and family directories made for it, if nothing else lives there (rmdir only removes empty ones)
      await fs.rmdir(path.dirname(tmp)).then(() => fs.rmdir(path.dirname(path.dirname(tmp)))).catch(() => {});
      throw err;
    }
  }

  /** rename(2) cannot replace a non-empty directory: an occupied name gets a fresh suffix instead. */
  private async renameIn(tmp: string, base: string): Promise<string> {
    for (let rel = base; ; rel = `${base}.${randomBytes(4).toString('hex')}`) {
      try {
        await fs.rename(tmp, path.join(this.root, rel));
        return rel;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
      }
    }
  }

  private async removeArtifactDir(entry: IndexEntry): Promise<void> {
    if (!isLayoutDir(entry.dir, entry)) return;
    const dir = path.join(this.root, entry.dir);
    const [realRoot, realDir] = await Promise.all([fs.realpath(this.root), fs.realpath(dir).catch(() => undefined)]);
    if (!realDir || realDir !== path.join(realRoot, entry.dir)) return; // gone, or reached through a symlink: not ours to remove
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Serialise index rewrites between processes; a corrupt index is rebuilt here when repair is on. */
  private async updateIndex(mutate: (idx: StoreIndex) => void | Promise<void>, onWritten?: () => void): Promise<StoreIndex> {
    return withFileLock(
      `${this.indexFile}.lock`,
      async () => {
        let idx: StoreIndex;
        try {
          idx = await this.readIndexStrict();
        } catch (err) {
          if (!(err instanceof StoreCorruptError) || !this.opts.onRepair) throw err;
          idx = await this.rebuildIndex(err);
        }
        await mutate(idx);
        await writeFileAtomic(this.indexFile, JSON.stringify(idx, null, 2) + '\n');
        onWritten?.();
        return idx;
      },
      { signal: this.opts.signal, timeoutMs: this.opts.lockTimeoutMs ?? 30_000 },
    );
  }

  /** Keep the corrupt index aside (never deleted) and index again every artifact that still verifies. */
  private async rebuildIndex(cause: StoreCorruptError): Promise<StoreIndex> {
    const aside = `${this.indexFile}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    await fs.rename(this.indexFile, aside).catch(() => {});
    const artifacts = await scanLayout(this.root);
    this.opts.onRepair?.(`${cause.message.split('; rebuild it')[0]}: kept it as ${aside}; rebuilt the index from ${artifacts.length} artifact(s) that verify`);
    return { schema: 1, artifacts };
  }
}
