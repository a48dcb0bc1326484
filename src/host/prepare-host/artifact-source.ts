import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DirStore, type IndexEntry, type StoreIndex } from '../../artifacts/dir-store.ts';
import { parseManifest, type Manifest } from '../../artifacts/manifest.ts';
import { verifyDetached, normalizeFingerprint } from '../../catalog/el7/signature.ts';
import { sha256 } from '../../util/hash.ts';

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

/**
 * How an index fetched over http(s) is trusted: the same chain install.sh checks. A local store is
 * the user's own directory and needs none of this.
 */
export interface TrustOptions {
  /** Primary key fingerprint index.json.sig must be made by (publish prints it; install.sh pins it). */
  fingerprint?: string;
  /** sha256 of the one index.json to accept. */
  indexSha256?: string;
  /** NBDFORGE_INSECURE_NO_SIGNATURE=1: take the index unverified (warned about). */
  insecureNoSignature?: boolean;
  warn?: (message: string) => void;
}

export function openArtifactSource(from: string, trust: TrustOptions = {}): ArtifactSource {
  return /^https?:\/\//i.test(from) ? new HttpSource(from, trust) : new DirSource(from);
}

const MAX_INDEX = 16 * 1024 * 1024;

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
  /** manifest.json sha256 per artifact key, from a published directory's (verified) index. */
  private readonly manifestSha = new Map<string, string>();
  constructor(
    readonly location: string,
    private readonly trust: TrustOptions,
  ) {
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
  private async getBytes(rel: string, max: number): Promise<Buffer> {
    const res = await this.get(rel);
    const data = Buffer.from(await res.arrayBuffer());
    if (data.length > max) throw new SourceError(`${new URL(rel, this.base)}: ${data.length} bytes, more than the ${max} expected`);
    return data;
  }
  async list(): Promise<IndexEntry[]> {
    const raw = await this.getBytes('index.json', MAX_INDEX);
    await this.verifyIndex(raw);
    let idx: StoreIndex & { format?: string; artifacts: Array<IndexEntry & { manifestSha256?: unknown }> };
    try {
      idx = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new SourceError(`${this.base}index.json: not JSON (${(err as Error).message})`);
    }
    if (idx?.schema !== 1 || !Array.isArray(idx.artifacts)) throw new SourceError(`${this.base}index.json: not a nbdforge store index`);
    for (const a of idx.artifacts) if (typeof a.manifestSha256 === 'string') this.manifestSha.set(a.key, a.manifestSha256);
    return idx.artifacts;
  }
  /** The index vouches for every other file (sha256 of module and manifest), so it alone is signed. */
  private async verifyIndex(raw: Buffer): Promise<void> {
    const url = `${this.base}index.json`;
    const t = this.trust;
    if (t.indexSha256) {
      if (sha256(raw) !== t.indexSha256.toLowerCase()) throw new SourceError(`${url}: sha256 ${sha256(raw)}, not the pinned ${t.indexSha256}; refused`);
      return;
    }
    if (t.fingerprint) {
      const fpr = normalizeFingerprint(t.fingerprint);
      const signature = await this.getBytes('index.json.sig', 64 * 1024).catch((err) => {
        throw new SourceError(`${url} is not signed (${(err as Error).message}); refused`);
      });
      const key = await this.getBytes('signing-key.gpg', 1024 * 1024);
      const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-key-'));
      try {
        await fs.writeFile(path.join(dir, 'key.gpg'), key);
        await verifyDetached({ data: raw, signature, keyFile: path.join(dir, 'key.gpg'), fingerprint: fpr, what: url }).catch((err) => {
          throw new SourceError((err as Error).message, { cause: err });
        });
      } finally {
        await fs.rm(dir, { recursive: true, force: true });
      }
      return;
    }
    if (t.insecureNoSignature) {
      t.warn?.(`WARNING: NBDFORGE_INSECURE_NO_SIGNATURE=1: ${url} is NOT verified; whoever controls that server decides what this host loads`);
      return;
    }
    throw new SourceError(
      `refusing the unverified index ${url}: pass --fingerprint FPR (the key nbdforge publish --gpg-key signed with) or --index-sha256 HEX,` +
        ` or set NBDFORGE_INSECURE_NO_SIGNATURE=1 to take it unverified`,
    );
  }
  async manifest(entry: IndexEntry): Promise<Manifest> {
    const rel = `${encodePath(entry.dir)}/manifest.json`;
    const raw = await this.getBytes(rel, 1024 * 1024);
    const want = this.manifestSha.get(entry.key);
    if (want !== undefined && sha256(raw) !== want) throw new SourceError(`${new URL(rel, this.base)}: sha256 ${sha256(raw)}, the index says ${want}; refused`);
    let json: unknown;
    try {
      json = JSON.parse(raw.toString('utf8'));
    } catch (err) {
      throw new SourceError(`${new URL(rel, this.base)}: not JSON (${(err as Error).message})`);
    }
    return parseManifest(json, new URL(rel, this.base).toString());
  }
  async bytes(entry: IndexEntry): Promise<Uint8Array> {
    return new Uint8Array(await this.getBytes(`${encodePath(entry.dir)}/${encodeURIComponent(entry.file)}`, 64 * 1024 * 1024));
  }
}

function encodePath(p: string): string {
  if (p.split('/').some((seg) => seg === '..' || seg === '')) throw new SourceError(`bad artifact directory in index: ${p}`);
  return p.split('/').map(encodeURIComponent).join('/');
}
