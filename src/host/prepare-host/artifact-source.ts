import fs from 'node:fs/promises';
import { DirStore, type IndexEntry, type StoreIndex } from '../../artifacts/dir-store.ts';
import { parseManifest, type Manifest } from '../../artifacts/manifest.ts';

/** Where prepare-host reads artifacts: a directory store, or the same layout served over http(s). */
export interface ArtifactSource {
  readonly location: string;
  list(): Promise<IndexEntry[]>;
  manifest(entry: IndexEntry): Promise<Manifest>;
  bytes(entry: IndexEntry): Promise<Uint8Array>;
}

export class SourceError extends Error {
  override name = 'SourceError';
}

export function openArtifactSource(from: string): ArtifactSource {
  return /^https?:\/\//i.test(from) ? new HttpSource(from) : new DirSource(from);
}

class DirSource implements ArtifactSource {
  private readonly store: DirStore;
  constructor(readonly location: string) {
    this.store = new DirStore(location);
  }
  async list(): Promise<IndexEntry[]> {
    try {
      await fs.access(this.store.indexFile);
    } catch {
      throw new SourceError(`${this.location} is not an artifact store (no index.json); build one with: nbdforge build --kernel RELEASE --store ${this.location}`);
    }
    return (await this.store.readIndex()).artifacts;
  }
  manifest(entry: IndexEntry): Promise<Manifest> {
    return this.store.readManifest(entry);
  }
  async bytes(entry: IndexEntry): Promise<Uint8Array> {
    return new Uint8Array(await fs.readFile(this.store.artifactPath(entry)));
  }
}

/** A directory store published by any static web server: GET index.json, <dir>/manifest.json, <dir>/<file>. */
class HttpSource implements ArtifactSource {
  private readonly base: string;
  constructor(readonly location: string) {
    this.base = location.endsWith('/') ? location : `${location}/`;
  }
  private async get(rel: string): Promise<Response> {
    const url = new URL(rel, this.base).toString();
    let res: Response;
    try {
      res = await fetch(url, { signal: AbortSignal.timeout(60_000) });
    } catch (err) {
      throw new SourceError(`cannot fetch ${url}: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) throw new SourceError(`GET ${url}: HTTP ${res.status} ${res.statusText}`);
    return res;
  }
  async list(): Promise<IndexEntry[]> {
    const idx = (await (await this.get('index.json')).json()) as StoreIndex;
    if (idx?.schema !== 1 || !Array.isArray(idx.artifacts)) throw new SourceError(`${this.base}index.json: not a nbdforge store index`);
    return idx.artifacts;
  }
  async manifest(entry: IndexEntry): Promise<Manifest> {
    const rel = `${encodePath(entry.dir)}/manifest.json`;
    return parseManifest(await (await this.get(rel)).json(), new URL(rel, this.base).toString());
  }
  async bytes(entry: IndexEntry): Promise<Uint8Array> {
    return new Uint8Array(await (await this.get(`${encodePath(entry.dir)}/${encodeURIComponent(entry.file)}`)).arrayBuffer());
  }
}

function encodePath(p: string): string {
  if (p.split('/').some((seg) => seg === '..' || seg === '')) throw new SourceError(`bad artifact directory in index: ${p}`);
  return p.split('/').map(encodeURIComponent).join('/');
}
