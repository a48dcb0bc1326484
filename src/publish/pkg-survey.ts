/**
 * What an apt or yum target holds, judged against the publish records (read-only): which package
 * files nbdforge wrote there and still hash to what it recorded, and what is foreign (a planted
 * package, a symlink anywhere, an unknown file, a package changed since). Used before the run
 * (holds: what need not be sent again; foreign content is refused at once) and under the lock.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Stats } from 'node:fs';
import type { PublishItem } from './target.ts';
import { PublishRecords, type PublishRecord } from './records.ts';
import { foreignRefusal, readInside, scanTree, type Foreign } from './pkg-tree.ts';

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
