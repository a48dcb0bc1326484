/**
 * The apt and yum repositories are rebuilt from the store and the publish records on every run,
 * never from what the target directory happens to hold. A package file is indexed only when
 * nbdforge made it in this run or the records name it with a sha256 it still has (re-hashed now);
 * anything else in the target (a planted package, a symlink anywhere, an unknown file, a package
 * changed since) is refused with exit 3 naming it, or moved aside with --prune-foreign.
 *
 * A run stages everything (packages, copies of the kept ones, the indexes over exactly those,
 * signatures) in a fresh scratch directory inside the target, so a full disk fails before the
 * target is touched; it then renames the new files into place, with the old ones hard-linked aside
 * so a failure half-way puts them back; only then are the files the records say it wrote and no
 * index names any more removed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { PublishItem, PublishOutcome } from './target.ts';
import { PublishRecords, type PublishRecord } from './records.ts';
import { withWorkDir } from './package-channel.ts';
import { ensureDirInside, foreignRefusal, moveAside, readInside, removeRecorded, scanTree, type Foreign } from './pkg-tree.ts';

export interface RepoShape {
  kind: 'apt' | 'yum';
  /** The directory the package files live in (apt: pool, yum: Packages). */
  pool: string;
  /** Top-level files nbdforge writes by name (indexes, signatures, key, sources/repo file). */
  files: string[];
  /** Top-level directories nbdforge replaces whole (yum: repodata), with the names of the files it writes in them. */
  dirs: string[];
  dirFiles?: RegExp;
  /** Files whose presence says the repository is complete (when missing, everything is sent again). */
  complete: string[];
  /** The kernel slot a package file fills: a newer file for a slot replaces the older one. */
  slot(file: string): string;
  /** Are the signed indexes still fresh enough to leave alone (apt: Valid-Until not near)? When not, everything is sent again and re-signed. */
  fresh?(realRoot: string): Promise<boolean>;
}

export interface RepoContext {
  dir: string;
  /** The record target names this target answers to (the normalised spec first). */
  specs: string[];
  shape: RepoShape;
  storeRoot: string;
  /** Who signs (--gpg-key as given, '' for none), as the publish records say it. */
  signer: string;
  prune: boolean;
  /** Told what --prune-foreign moved, and where (for the run's notes). */
  pruned?: (aside: string, foreign: Foreign[]) => void;
  now: () => Date;
  signal?: AbortSignal;
}

/** The latest record for each file of the pool, and for each artifact key. */
interface Recorded {
  byRef: Map<string, PublishRecord>;
  byKey: Map<string, PublishRecord>;
}

async function recorded(ctx: RepoContext): Promise<Recorded> {
  const byRef = new Map<string, PublishRecord>();
  const byKey = new Map<string, PublishRecord>();
  const later = (a: PublishRecord | undefined, b: PublishRecord) => !a || a.publishedAt <= b.publishedAt;
  for (const r of await new PublishRecords(ctx.storeRoot).read()) {
    const name = r.ref.slice(ctx.shape.pool.length + 1);
    if (!ctx.specs.includes(r.target) || !r.ref.startsWith(`${ctx.shape.pool}/`) || name.includes('/') || name === '.' || name === '..' || name === '') continue;
    if (later(byRef.get(r.ref), r)) byRef.set(r.ref, r);
    if (later(byKey.get(r.key), r)) byKey.set(r.key, r);
  }
  return { byRef, byKey };
}

export interface Survey {
  realRoot: string;
  rec: Recorded;
  foreign: Foreign[];
  /** Recorded package files present and unchanged (sha256 re-checked), by ref. */
  verified: Set<string>;
  /** Recorded package files present that cannot be checked (a record without refSha256): never indexed, removed. */
  unverifiable: string[];
  complete: boolean;
}

/** What the target holds, judged against the records: read-only. */
export async function survey(ctx: RepoContext, workName = ''): Promise<Survey | undefined> {
  // Missing, or not a directory at all: nothing to judge here (check() refuses the latter by name).
  const st = await fs.stat(ctx.dir).catch(() => undefined);
  if (!st?.isDirectory()) return undefined;
  const realRoot = await fs.realpath(ctx.dir);
  const rec = await recorded(ctx);
  const { shape } = ctx;
  const judge = (rel: string, s: Stats): 'ok' | 'walk' | string => {
    const parts = rel.split('/');
    const top = parts[0];
    if (parts.length === 1) {
      if (top === shape.pool || shape.dirs.includes(top)) return s.isDirectory() ? 'walk' : 'not a directory where nbdforge keeps one';
      if (shape.files.includes(top) || top === '.nbdforge-publish.lock') return s.isFile() ? 'ok' : 'not a plain file';
      if (top === workName || /^\.nbdforge-(tmp|foreign)-/.test(top)) return s.isDirectory() ? 'ok' : 'not a directory';
      return 'not written by nbdforge';
    }
    if (top === shape.pool) {
      if (parts.length === 2 && s.isFile() && rec.byRef.has(rel)) return 'ok';
      return s.isFile() ? 'a package nbdforge did not publish here (not in its publish records)' : 'not written by nbdforge';
    }
    // Inside a directory nbdforge replaces whole: only the files it writes there (the rest would go with it).
    return parts.length === 2 && s.isFile() && (shape.dirFiles?.test(parts[1]) ?? true) ? 'ok' : 'not written by nbdforge';
  };
  const foreign = await scanTree(realRoot, judge);
  const bad = new Set(foreign.map((f) => f.rel));
  const verified = new Set<string>();
  const unverifiable: string[] = [];
  for (const [ref, r] of rec.byRef) {
    if (bad.has(ref) || !(await fs.lstat(path.join(realRoot, ref)).catch(() => undefined))) continue;
    if (!r.refSha256) {
      unverifiable.push(ref);
      continue;
    }
    const got = await readInside(realRoot, ref);
    if (got.sha256 === r.refSha256) verified.add(ref);
    else foreign.push({ rel: ref, why: `changed since nbdforge wrote it (sha256 ${got.sha256.slice(0, 16)}..., recorded ${r.refSha256.slice(0, 16)}...)` });
  }
  const complete =
    (await Promise.all(shape.complete.map((f) => fs.lstat(path.join(realRoot, f)).then((s) => s.isFile(), () => false)))).every(Boolean) &&
    (!shape.fresh || (await shape.fresh(realRoot)));
  return { realRoot, rec, foreign, verified, unverifiable, complete };
}

/**
 * The keys of `items` the target still holds: recorded there with a file that still hashes right
 * in a complete repository. Foreign content is refused here already (exit 3 even when nothing is
 * new); with --prune-foreign every item is sent again, so the indexes are rebuilt without it.
 */
export async function holds(ctx: RepoContext, items: PublishItem[]): Promise<Set<string>> {
  const s = await survey(ctx);
  if (!s) return new Set();
  if (s.foreign.length && !ctx.prune) throw foreignRefusal(`${ctx.shape.kind}:${ctx.dir}`, s.foreign);
  if (s.foreign.length || !s.complete) return new Set();
  return new Set(items.filter((i) => {
    const r = s.rec.byKey.get(i.entry.key);
    return !!r && s.verified.has(r.ref) && s.rec.byRef.get(r.ref) === r;
  }).map((i) => i.entry.key));
}

export interface Made {
  item: PublishItem;
  /** The package file made in the scratch directory. */
  file: string;
}

export interface RepoBuild {
  /** Make the packages for `items` in `work` (signed where the format signs packages). */
  packages(items: PublishItem[], work: string): Promise<Made[]>;
  /**
   * Write the indexes over `stage`/<pool> into `stage` (prev: the target's real root, to read the
   * previous serial from); returns the top-level names to install, in order, and those to remove.
   */
  indexes(stage: string, realRoot: string): Promise<{ write: string[]; drop: string[] }>;
}

/** One publish run of a package repository (see the file comment). */
export async function rebuildRepo(ctx: RepoContext, items: PublishItem[], build: RepoBuild): Promise<PublishOutcome[]> {
  const { shape } = ctx;
  await fs.mkdir(ctx.dir, { recursive: true });
  const lock = await fs.lstat(path.join(ctx.dir, '.nbdforge-publish.lock')).catch(() => undefined);
  if (lock && !lock.isFile()) throw foreignRefusal(`${shape.kind}:${ctx.dir}`, [{ rel: '.nbdforge-publish.lock', why: 'not a plain file' }]);
  return withWorkDir(
    ctx.dir,
    async (work) => {
      const s = (await survey(ctx, path.basename(work)))!;
      const { realRoot } = s;
      if (s.foreign.length) {
        if (!ctx.prune) throw foreignRefusal(`${shape.kind}:${ctx.dir}`, s.foreign);
        ctx.pruned?.(path.join(ctx.dir, await moveAside(realRoot, s.foreign, ctx.now())), s.foreign);
      }
      const made = await build.packages(items, work);
      // The final pool: kept files (newest record per slot), then this run's, which win their slot.
      const final = new Map<string, { ref: string; made?: Made; rec?: PublishRecord }>();
      for (const ref of [...s.verified].sort((a, b) => s.rec.byRef.get(a)!.publishedAt.localeCompare(s.rec.byRef.get(b)!.publishedAt)))
        final.set(shape.slot(path.basename(ref)), { ref, rec: s.rec.byRef.get(ref) });
      for (const m of made) final.set(shape.slot(path.basename(m.file)), { ref: `${shape.pool}/${path.basename(m.file)}`, made: m });

      // Real paths: readInside checks each opened file's own path against the one named.
      const stage = path.join(realRoot, path.basename(work), 'stage');
      await fs.mkdir(path.join(stage, shape.pool), { recursive: true });
      const outcomes: PublishOutcome[] = [];
      for (const f of final.values()) {
        const dest = path.join(stage, f.ref);
        if (f.made) {
          await fs.rename(f.made.file, dest);
          const { sha256, size } = await readInside(stage, f.ref);
          outcomes.push({ key: f.made.item.entry.key, kernelRelease: f.made.item.entry.kernelRelease, ref: f.ref, bytesSent: size, refSha256: sha256 });
        } else {
          // Re-hashed as it is copied: what the index names is what was checked, whatever happens to the target's copy.
          const { sha256 } = await readInside(realRoot, f.ref, dest);
          if (sha256 !== f.rec!.refSha256) throw foreignRefusal(`${shape.kind}:${ctx.dir}`, [{ rel: f.ref, why: 'changed while being read' }]);
        }
      }
      const { write, drop } = await build.indexes(stage, realRoot);
      const undo = await commit(realRoot, work, stage, [...outcomes.map((o) => o.ref), ...write], drop, shape);
      // Recorded before the lock is released (runPublish records the same again): the next run,
      // which may be waiting for the lock, must find these files in the records, not take them for
      // planted ones. Records that cannot be written take the run back.
      const at = ctx.now().toISOString();
      await new PublishRecords(ctx.storeRoot).add(
        outcomes.map((o) => {
          const i = items.find((x) => x.entry.key === o.key)!;
          return { target: ctx.specs[0], kind: shape.kind, key: o.key, family: i.entry.family, kernelRelease: o.kernelRelease, sha256: i.entry.sha256, ref: o.ref, signer: ctx.signer, bytesSent: o.bytesSent, publishedAt: at, refSha256: o.refSha256 };
        }),
      ).catch(async (err) => {
        await undo();
        throw err;
      });
      // Only now, with no index naming them: the recorded files that left the pool.
      const keep = new Set([...final.values()].map((f) => f.ref));
      for (const ref of [...s.rec.byRef.keys()]) if (!keep.has(ref) && !s.foreign.some((f) => f.rel === ref)) await removeRecorded(realRoot, ref);
      return outcomes;
    },
    ctx.signal,
  );
}

/**
 * Rename each staged entry into place, the old one kept aside (in `work`, until it goes); any
 * failure puts every old one back. Returns the same undo for a failure that comes later.
 */
async function commit(realRoot: string, work: string, stage: string, names: string[], drop: string[], shape: RepoShape): Promise<() => Promise<void>> {
  const old = path.join(work, 'old');
  await fs.mkdir(path.join(old, shape.pool), { recursive: true });
  await ensureDirInside(realRoot, shape.pool);
  const undo: Array<() => Promise<void>> = [];
  const undoAll = async () => {
    for (const u of undo.reverse()) await u().catch(() => {});
  };
  try {
    for (const e of [...names.map((rel) => ({ rel, put: true })), ...drop.map((rel) => ({ rel, put: false }))]) {
      const dest = path.join(realRoot, e.rel);
      const aside = path.join(old, e.rel);
      const st = await fs.lstat(dest).catch(() => undefined);
      if (st?.isSymbolicLink()) throw foreignRefusal(`${shape.kind}:${realRoot}`, [{ rel: e.rel, why: 'a symlink appeared during the run' }]);
      if (!st && !e.put) continue;
      let asideDone = false;
      let placed = false;
      undo.push(async () => {
        if (placed) await fs.rm(dest, { recursive: true, force: true });
        if (asideDone) await fs.rename(aside, dest);
      });
      // A file is hard-linked aside (it stays in place until the new one replaces it atomically); a directory has to move.
      if (st?.isDirectory()) await fs.rename(dest, aside);
      else if (st) await fs.link(dest, aside);
      asideDone = !!st;
      if (e.put) {
        await fs.rename(path.join(stage, e.rel), dest);
        placed = true;
      } else if (st?.isFile()) await fs.unlink(dest);
    }
  } catch (err) {
    await undoAll();
    throw err;
  }
  return undoAll;
}
