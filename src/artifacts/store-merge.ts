import { DirStore } from './dir-store.ts';
import type { IndexEntry } from './store-layout.ts';

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

/**
 * Merge stores built apart (a matrix split across CI runners) into one. Content addressing makes
 * this safe: every artifact taken is re-hashed against its manifest first (a damaged one is refused
 * and named), the same key twice is the same artifact (kept once), and for one kernel built with
 * other inputs the newer build wins, as a rebuild would. Sources are only read.
 */
export async function mergeStores(sources: string[], into: DirStore, onResult: (r: MergeResult) => void = () => {}): Promise<MergeResult[]> {
  const out: MergeResult[] = [];
  const held = new Map<string, IndexEntry>();
  for (const e of await into.list()) held.set(`${e.family}/${e.kernelRelease}/${e.module}`, e);
  for (const src of sources) {
    const store = new DirStore(src);
    for (const e of await store.list()) {
      const base = { source: src, kernelRelease: e.kernelRelease, family: e.family, module: e.module, key: e.key };
      const report = (r: MergeResult) => (out.push(r), onResult(r));
      const mine = held.get(`${e.family}/${e.kernelRelease}/${e.module}`);
      if (mine?.key === e.key) {
        report({ ...base, status: 'same' });
        continue;
      }
      const health = await store.verify(e);
      if (!health.ok) {
        report({ ...base, status: 'refused', detail: health.why });
        continue;
      }
      if (mine && mine.createdAt >= health.manifest.createdAt) {
        report({ ...base, status: 'older', detail: `the target's build ${mine.key.slice(0, 12)} of ${mine.createdAt} is newer` });
        continue;
      }
      const entry = await into.put(health.manifest, { module: store.artifactPath(e), debug: store.artifactPath(e, health.manifest.debugFile) });
      held.set(`${e.family}/${e.kernelRelease}/${e.module}`, entry);
      report({ ...base, status: 'added' });
    }
  }
  return out;
}
