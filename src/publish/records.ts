/**
 * What went where: <store>/publish-records.json, one record per (target, artifact key, signer).
 * Kept beside the store's index rather than in it: the store says what was built, this file says
 * what was published, and each has one writer module. Rewritten atomically under a lock file, so two
 * publishes to different targets never lose each other's records.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { withFileLock } from '../util/file-lock.ts';

export interface PublishRecord {
  /** The target as given to --to (credentials redacted), normalised by the target (dir: absolute path). */
  target: string;
  kind: string;
  key: string;
  family: string;
  kernelRelease: string;
  sha256: string;
  /** Where it landed: a digest (oci) or a path relative to the target (yum, apt, dir). */
  ref: string;
  /** Fingerprint of the key that signed it there, '' when unsigned: a new key means publish again. */
  signer: string;
  bytesSent: number;
  publishedAt: string;
  /** sha256 of the file at `ref` (apt, yum): what a later run checks the file against before it indexes it again. */
  refSha256?: string;
  /** sha256 of the proof.json that went out with it: an artifact proven since is published again. */
  proofSha256?: string;
}

/** The record field naming the item's proof, when it has one. */
export function proofField(item: { manifest: { proof?: { sha256: string } } }): { proofSha256?: string } {
  return item.manifest.proof ? { proofSha256: item.manifest.proof.sha256 } : {};
}

interface RecordsFile {
  schema: 1;
  records: PublishRecord[];
}

const MAX_BYTES = 64 * 1024 * 1024;

export class PublishRecords {
  constructor(readonly storeRoot: string) {}

  get file(): string {
    return path.join(this.storeRoot, 'publish-records.json');
  }

  async read(): Promise<PublishRecord[]> {
    let text: string;
    try {
      const st = await fs.stat(this.file);
      if (st.size > MAX_BYTES) throw new Error(`${this.file}: ${st.size} bytes, more than a records file can be; move it away to start afresh`);
      text = await fs.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    let data: RecordsFile;
    try {
      data = JSON.parse(text) as RecordsFile;
    } catch (err) {
      throw new Error(`${this.file}: not JSON (${(err as Error).message}); move it away to start afresh`);
    }
    if (data?.schema !== 1 || !Array.isArray(data.records)) throw new Error(`${this.file}: not a nbdforge publish records file; move it away to start afresh`);
    return data.records.filter(isRecord);
  }

  /** Records for one target and signer, by artifact key. */
  async forTarget(target: string, signer: string): Promise<Map<string, PublishRecord>> {
    const out = new Map<string, PublishRecord>();
    for (const r of await this.read()) if (r.target === target && r.signer === signer) out.set(r.key, r);
    return out;
  }

  /** Add records, replacing any for the same (target, key): the newest publish is what the target holds. */
  async add(records: PublishRecord[]): Promise<void> {
    if (records.length === 0) return;
    await withFileLock(`${this.file}.lock`, async () => {
      const all = await this.read();
      const fresh = new Set(records.map((r) => `${r.target}\0${r.key}`));
      const kept = all.filter((r) => !fresh.has(`${r.target}\0${r.key}`));
      const data: RecordsFile = { schema: 1, records: [...kept, ...records] };
      await writeFileAtomic(this.file, JSON.stringify(data, null, 1) + '\n');
    });
  }
}

function isRecord(r: unknown): r is PublishRecord {
  const o = r as Record<string, unknown>;
  return (
    !!o &&
    typeof o === 'object' &&
    ['target', 'kind', 'key', 'family', 'kernelRelease', 'sha256', 'ref', 'signer', 'publishedAt'].every((k) => typeof o[k] === 'string') &&
    typeof o.bytesSent === 'number'
  );
}
