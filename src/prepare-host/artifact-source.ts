import fs from 'node:fs/promises';
import { DirStore, type IndexEntry } from '../artifacts/dir-store.ts';
import type { Manifest } from '../artifacts/manifest.ts';
import { type ArtifactSource, SourceError } from './source-error.ts';
import { HttpSource } from './http-source.ts';
import { shQuote } from '../host/quote.ts';
import type { TrustOptions } from './source-error.ts';
import type { NetOptions } from '../fetch/index.ts';
import { type ProofRecord, readStoredProof } from '../artifacts/proof-record.ts';

export { type ArtifactSource, type TrustOptions, SourceError } from './source-error.ts';

export function openArtifactSource(from: string, trust: TrustOptions = {}, net?: NetOptions): ArtifactSource {
  return /^https?:\/\//i.test(from) ? new HttpSource(from, trust, net?.limits, net?.report) : new DirSource(from);
}

/** The build that replaces a damaged artifact, runnable as printed. */
const rebuild = (entry: IndexEntry, store: string) => `nbdforge build --force --family ${entry.family} --kernel ${entry.kernelRelease} --store ${shQuote(store)}`;

/** A local store, read-only: a corrupt one is refused (StoreCorruptError names the file), never repaired here. */
class DirSource implements ArtifactSource {
  private readonly store: DirStore;
  constructor(readonly location: string) {
    this.store = new DirStore(location);
  }
  async list(): Promise<IndexEntry[]> {
    try {
      await fs.access(this.store.indexFile);
    } catch {
      throw Object.assign(new SourceError(`${this.location} is not an artifact store (no index.json)`), { noStore: true });
    }
    return (await this.store.readIndex()).artifacts;
  }
  manifest(entry: IndexEntry): Promise<Manifest> {
    return this.store.readManifest(entry);
  }
  async bytes(entry: IndexEntry, size: number): Promise<Uint8Array> {
    const file = this.store.artifactPath(entry);
    const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
      throw new SourceError(`${file}: ${err.code === 'ENOENT' ? 'missing' : err.message}; rebuild it with: ${rebuild(entry, this.location)}`);
    });
    if (st.size !== size) throw new SourceError(`${file}: ${st.size} bytes, its manifest says ${size}; rebuild it with: ${rebuild(entry, this.location)}`);
    return new Uint8Array(await fs.readFile(file));
  }
  async proof(entry: IndexEntry): Promise<ProofRecord | undefined> {
    return (await readStoredProof(this.location, entry))?.proof;
  }
}
