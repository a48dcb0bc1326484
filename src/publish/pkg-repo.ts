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
import type { PublishItem, PublishOutcome } from './target.ts';
import { PublishRecords, proofField, type PublishRecord } from './records.ts';
import { withWorkDir } from './package-channel.ts';
import { ensureDirInside, foreignRefusal, moveAside, readInside, removeRecorded } from './pkg-tree.ts';
import { survey, type RepoContext, type RepoShape } from './pkg-survey.ts';

export { holds, type RepoContext, type RepoShape } from './pkg-survey.ts';

/** The run's note for what --prune-foreign moved aside: how many, where, the first few names. */
export function prunedNote(aside: string, foreign: Array<{ rel: string }>): string {
  const shown = foreign.slice(0, 5).map((f) => JSON.stringify(f.rel)).join(', ');
  return `--prune-foreign moved ${foreign.length} thing(s) nbdforge did not write into ${aside}: ${shown}${foreign.length > 5 ? ', ...' : ''}`;
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
          return { target: ctx.specs[0], kind: shape.kind, key: o.key, family: i.entry.family, kernelRelease: o.kernelRelease, sha256: i.entry.sha256, ref: o.ref, signer: ctx.signer, bytesSent: o.bytesSent, publishedAt: at, refSha256: o.refSha256, ...proofField(i) };
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
