/**
 * What the download and derived caches hold, per kernel, and what each entry is worth keeping:
 * read from the families' cached catalogs and layouts (no engine, no network) and the store's index.
 * Shared code: every family-specific name comes from Family.cacheLayout / cacheFiles.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Family } from '../families/family.ts';
import type { Paths } from '../paths.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { measure, insideDir, listEntries, type Measured } from './walk.ts';
import { runningBuilds } from '../builder/scratch.ts';

/**
 * Caches below the cache root that cache du/prune report but never touch: the test and VM caches, the
 * prove cache (cache/prove: every verdict nbdforge prove reached, a few KB each, the evidence), and the
 * results directories of builds in builders kept between processes (cache/builders: nbdforge cleanup's).
 */
export const LEFT_ALONE = ['vm', 'el7-userland', 'test-fixtures', 'prove', 'builders'];

export interface KernelRef {
  family: string;
  kernelRelease: string;
  /** The store holds an artifact (any module) for it. */
  stored: boolean;
  /** Among the --keep-latest N newest of its family's catalog. */
  warm: boolean;
  /** A build of it is running now (its scratch directory's owner is alive): its pid. */
  building?: number;
}

export interface Item extends Measured {
  path: string;
  rel: string;
  uses: Array<{ kernel: KernelRef; role: string; kind: 'download' | 'derived' }>;
  /** Set when the family needs it whatever the kernels (catalog, apt lists, repodata). */
  keepRole?: string;
  /** Families naming the directory it sits in that have no cached catalog: nothing can be said about it. */
  unjudged: string[];
}

export interface FamilyState {
  name: string;
  catalog?: { fetchedAt: string; kernels: number };
  note?: string;
}

export interface Inventory {
  cache: string;
  families: FamilyState[];
  kernels: KernelRef[];
  /** Entries in the families' scan directories, each measured once (shared ones carry several uses). */
  items: Item[];
  /** Keep paths outside the scan directories (catalog files, apt lists). */
  kept: Array<Measured & { rel: string; role: string }>;
  leftAlone: Array<Measured & { rel: string }>;
  /** Things not looked into, and why (a scan directory that is a link out of the cache). */
  notes: string[];
}

export async function takeInventory(families: Family[], paths: Paths, opts: { keepLatest?: number } = {}): Promise<Inventory> {
  const ctx = { paths };
  const running = new Map((await runningBuilds()).map((b) => [b.kernelRelease, b.pid ?? 0]));
  const cacheReal = await fs.realpath(paths.cache).catch(() => paths.cache);
  const storedSet = new Set((await new DirStore(paths.store).list()).map((e) => `${e.family}\0${e.kernelRelease}`));
  const uses = new Map<string, Item['uses']>();
  const keep = new Map<string, string>();
  const scanDirs = new Map<string, { depth: number; families: string[] }>();
  const states: FamilyState[] = [];
  const kernels: KernelRef[] = [];
  const withCatalog = new Set<string>();
  const notes: string[] = [];

  for (const f of families) {
    if (!f.cacheLayout || !f.cachedCatalog || !f.cacheFiles) {
      states.push({ name: f.name, note: 'does not describe its cache: its files are left alone' });
      continue;
    }
    const layout = await f.cacheLayout(ctx);
    for (const s of layout.scan) {
      const d = scanDirs.get(s.dir) ?? { depth: s.depth, families: [] };
      d.families.push(f.name);
      scanDirs.set(s.dir, d);
    }
    for (const k of layout.keep) keep.set(k.path, k.role);
    let catalog;
    try {
      catalog = await f.cachedCatalog(ctx);
    } catch (err) {
      states.push({ name: f.name, note: `its cached catalog cannot be read (${(err as Error).message.split('\n')[0]}): its files are left alone` });
      continue;
    }
    if (!catalog) {
      states.push({ name: f.name, note: `no cached catalog (nbdforge kernels --family ${f.name} makes one): its files are left alone` });
      continue;
    }
    withCatalog.add(f.name);
    states.push({ name: f.name, catalog: { fetchedAt: catalog.fetchedAt, kernels: catalog.kernels.length } });
    const n = opts.keepLatest ?? 0;
    const warm = new Set(n > 0 ? catalog.kernels.slice(-n).map((k) => k.kernelRelease) : []);
    for (const k of catalog.kernels) {
      const ref: KernelRef = { family: f.name, kernelRelease: k.kernelRelease, stored: storedSet.has(`${f.name}\0${k.kernelRelease}`), warm: warm.has(k.kernelRelease), building: running.get(k.kernelRelease) };
      kernels.push(ref);
      for (const e of f.cacheFiles(ctx, k)) {
        const list = uses.get(e.path) ?? [];
        if (!list.some((u) => u.kernel === ref)) list.push({ kernel: ref, role: e.role, kind: e.kind });
        uses.set(e.path, list);
      }
    }
  }

  const rel = (p: string) => path.relative(paths.cache, p) || '.';
  const items: Item[] = [];
  for (const [dir, { depth, families: names }] of scanDirs) {
    // A scan directory must really be inside the cache: a link to elsewhere is not looked into.
    const real = await fs.realpath(dir).catch(() => undefined);
    if (real === undefined) continue;
    const st = await fs.lstat(dir);
    if (st.isSymbolicLink() || !insideDir(real, cacheReal)) {
      notes.push(`${rel(dir)} is a link or lies outside the cache: not looked into`);
      continue;
    }
    for (const p of await listEntries(dir, depth)) {
      items.push({ path: p, rel: rel(p), ...(await measure(p)), uses: uses.get(p) ?? [], keepRole: keep.get(p), unjudged: names.filter((n) => !withCatalog.has(n)) });
    }
  }
  const inScan = (p: string) => [...scanDirs.keys()].some((d) => path.dirname(p) === d || p.startsWith(d + path.sep));
  const kept = [];
  for (const [p, role] of keep) {
    if (inScan(p)) continue;
    const m = await fs.lstat(p).then(() => measure(p), () => undefined);
    if (m) kept.push({ ...m, rel: rel(p), role });
  }
  const leftAlone = [];
  for (const name of LEFT_ALONE) {
    const p = path.join(paths.cache, name);
    const m = await fs.lstat(p).then(() => measure(p), () => undefined);
    if (m) leftAlone.push({ ...m, rel: name });
  }
  return { cache: paths.cache, families: states, kernels, items, kept, leftAlone, notes };
}
