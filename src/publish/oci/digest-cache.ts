/**
 * Remembers which image and proof digests an artifact turns into, keyed by every input of those
 * bytes (module, manifest.json, debug module, busybox, the depmod that indexed it, nbdforge's
 * version, the layout). A re-publish then asks the registry two HEADs per kernel and builds
 * nothing when both tags already name those digests. A cache miss only costs a rebuild.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { run } from '../../doors/exec.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { canonicalJson, sha256 } from '../../util/hash.ts';
import type { PublishItem } from '../target.ts';

/** Bump when the image layout or labels change: old cache entries then simply miss. */
const LAYOUT = 1;
const MAX_ENTRIES = 2000;

export interface Planned {
  image: string;
  proof: string;
}

export async function depmodVersion(): Promise<string> {
  try {
    return (await run('depmod', ['--version'], { timeoutMs: 10_000 })).stdout.trim();
  } catch {
    return 'unknown';
  }
}

export async function planKey(item: PublishItem, busyboxSha: string, depmod: string, version: string, signer?: string): Promise<string> {
  const manifestSha = sha256(await fs.readFile(item.manifestPath));
  const m = item.manifest;
  // An unsigned publish keeps the key it always had; a signed one is another proof.
  return sha256(canonicalJson({ LAYOUT, module: m.sha256, debug: m.debugSha256, manifestSha, busyboxSha, depmod, version, ...(signer ? { signer } : {}) }));
}

export class DigestCache {
  private entries: Record<string, Planned> | undefined;
  constructor(private readonly file: string) {}

  static in(cacheDir: string): DigestCache {
    return new DigestCache(path.join(cacheDir, 'oci', 'digests.json'));
  }

  async get(key: string): Promise<Planned | undefined> {
    return (await this.load())[key];
  }

  async set(key: string, p: Planned): Promise<void> {
    const all = await this.load();
    delete all[key];
    all[key] = p;
    const keys = Object.keys(all);
    for (const k of keys.slice(0, Math.max(0, keys.length - MAX_ENTRIES))) delete all[k];
    await writeFileAtomic(this.file, JSON.stringify(all) + '\n');
  }

  private async load(): Promise<Record<string, Planned>> {
    if (this.entries) return this.entries;
    try {
      const v = JSON.parse(await fs.readFile(this.file, 'utf8')) as unknown;
      const ok = (p: unknown) => !!p && typeof (p as Planned).image === 'string' && typeof (p as Planned).proof === 'string';
      this.entries = v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).filter(([, p]) => ok(p))) : {};
    } catch {
      this.entries = {}; // missing or unreadable: a cache, never a reason to fail
    }
    return this.entries!;
  }
}
