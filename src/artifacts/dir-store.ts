import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { type Manifest, parseManifest, allChecksPassed } from './manifest.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { sha256File } from '../util/hash.ts';
import { withFileLock } from '../util/file-lock.ts';

/** One line of the store index: enough to pick an artifact without opening its manifest. */
export interface IndexEntry {
  key: string;
  family: string;
  kernelRelease: string;
  module: string;
  /** Directory of the artifact, relative to the store root. */
  dir: string;
  file: string;
  sha256: string;
  vermagic: string;
  createdAt: string;
}

export interface StoreIndex {
  schema: 1;
  artifacts: IndexEntry[];
}

export class StoreError extends Error {
  override name = 'StoreError';
}

/**
 * The default store: a directory.
 *   <root>/index.json
 *   <root>/<family>/<kernelRelease>/<module>-<key12>/{<module>.ko, <module>.ko.debug, manifest.json}
 * An artifact directory appears whole (written beside, then renamed) and the index is rewritten
 * atomically under a lock file, so readers never see half an artifact.
 */
export class DirStore {
  constructor(readonly root: string) {}

  get indexFile(): string {
    return path.join(this.root, 'index.json');
  }

  async readIndex(): Promise<StoreIndex> {
    let text: string;
    try {
      text = await fs.readFile(this.indexFile, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { schema: 1, artifacts: [] };
      throw err;
    }
    const idx = JSON.parse(text) as StoreIndex;
    if (idx.schema !== 1 || !Array.isArray(idx.artifacts)) throw new StoreError(`${this.indexFile}: not a nbdforge store index`);
    return idx;
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

  async readManifest(entry: IndexEntry): Promise<Manifest> {
    const file = path.join(this.root, entry.dir, 'manifest.json');
    return parseManifest(JSON.parse(await fs.readFile(file, 'utf8')), file);
  }

  artifactPath(entry: IndexEntry, file = entry.file): string {
    return path.join(this.root, entry.dir, file);
  }

  /**
   * Store a verified module. `files` maps the manifest's file and debugFile names to paths of
   * finished files; they are copied, re-hashed against the manifest and then published at once.
   */
  async put(manifest: Manifest, files: { module: string; debug: string }): Promise<IndexEntry> {
    parseManifest(manifest);
    if (!allChecksPassed(manifest)) {
      const bad = manifest.checks.filter((c) => !c.ok).map((c) => c.name);
      throw new StoreError(`refusing to store ${manifest.module} for ${manifest.kernelRelease}: failed checks ${bad.join(', ')}`);
    }
    const rel = path.join(manifest.family, manifest.kernelRelease, `${manifest.module}-${manifest.key.slice(0, 12)}`);
    const final = path.join(this.root, rel);
    const tmp = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    await fs.mkdir(tmp, { recursive: true });
    try {
      await fs.copyFile(files.module, path.join(tmp, manifest.file));
      await fs.copyFile(files.debug, path.join(tmp, manifest.debugFile));
      if ((await sha256File(path.join(tmp, manifest.file))) !== manifest.sha256) throw new StoreError('module does not match the manifest sha256');
      if ((await sha256File(path.join(tmp, manifest.debugFile))) !== manifest.debugSha256) throw new StoreError('debug module does not match the manifest debugSha256');
      await writeFileAtomic(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
      await fs.rm(final, { recursive: true, force: true });
      await fs.rename(tmp, final);
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw err;
    }
    const entry: IndexEntry = {
      key: manifest.key,
      family: manifest.family,
      kernelRelease: manifest.kernelRelease,
      module: manifest.module,
      dir: rel,
      file: manifest.file,
      sha256: manifest.sha256,
      vermagic: manifest.vermagic,
      createdAt: manifest.createdAt,
    };
    let replaced: IndexEntry[] = [];
    await this.updateIndex((idx) => {
      // One artifact per (family, kernel, module): a rebuild with other inputs replaces the old entry.
      const same = (a: IndexEntry) => (a.family === entry.family && a.kernelRelease === entry.kernelRelease && a.module === entry.module) || a.key === entry.key;
      replaced = idx.artifacts.filter((a) => same(a) && a.dir !== entry.dir);
      idx.artifacts = idx.artifacts.filter((a) => !same(a));
      idx.artifacts.push(entry);
      idx.artifacts.sort((a, b) => a.family.localeCompare(b.family) || a.kernelRelease.localeCompare(b.kernelRelease, undefined, { numeric: true }));
    });
    // Only after the index stopped pointing at them.
    for (const old of replaced) await fs.rm(path.join(this.root, old.dir), { recursive: true, force: true });
    return entry;
  }

  /** Serialise index rewrites between processes (a crashed writer's lock is taken over). */
  private async updateIndex(mutate: (idx: StoreIndex) => void): Promise<void> {
    await withFileLock(`${this.indexFile}.lock`, async () => {
      const idx = await this.readIndex();
      mutate(idx);
      await writeFileAtomic(this.indexFile, JSON.stringify(idx, null, 2) + '\n');
    });
  }
}
