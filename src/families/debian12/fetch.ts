/**
 * debian12's downloads for one build, in two containers side by side under the family's fetch lock:
 * - the kept packages (headers, kbuild, compiler, image) are fetched by apt into the shared debs/
 *   directory under the family's fetch lock (parallel builds share the kbuild and compiler debs);
 * - the source package, with the module known, goes onto a tmpfs of its own container, is checked
 *   whole against the catalog's sha256, the module's files are streamed out into derived/src-<sha256>
 *   and the package is dropped. Its download and xz overlap the kept fetch (issue 20 item 3).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { FamilyContext, KernelEntry, SourceFile } from '../family.ts';
import type { ModuleSpec } from '../../module-spec/module-spec.ts';
import type { ImageSpec } from '../../docker/image.ts';
import { containersOf } from '../../docker/containers.ts';
import { ContainerError } from '../../docker/errors.ts';
import { sha256File } from '../../util/hash.ts';
import type { Mutex } from '../../util/mutex.ts';
import { NbdforgeError } from '../../errors.ts';
import { aptBinds, aptBoundsEnv, aptFailure } from './apt-bounds.ts';
import { derivedPaths, sourceExtract } from './derived.ts';
import type { Debian12Dirs } from './dirs.ts';
import type { Line } from './lines.ts';

/** Files fetched from the archive whose sha256 is not the catalog's (they were removed). */
export class SourceChecksumError extends NbdforgeError {
  override name = 'SourceChecksumError';
  constructor(message: string, readonly files: string[]) {
    super(message);
  }
}

export interface FetchDeps {
  image: ImageSpec;
  fetchLock: Mutex;
  /** Source streams in flight, by the package's sha256: two kernels of one source version share one. */
  streams: Map<string, Promise<void>>;
  lineOf: (kernel: KernelEntry) => Line;
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

/** The kernel's files (by role) from the archive, each checked against its sha256. */
export async function sourcesOf(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, module: ModuleSpec | undefined, deps: FetchDeps): Promise<Record<string, string>> {
  await fs.mkdir(d.debs, { recursive: true });
  // A deb whose derived product (unpacked kbuild tree, extracted nbd.c, shipped module) is already
  // in the cache is not read by the build, so it is neither hashed nor fetched again.
  const derived = derivedPaths(d.derived, kernel);
  const needed: SourceFile[] = [];
  for (const f of kernel.files) {
    const product = derived[f.role];
    if (!product || !(await exists(product))) needed.push(f);
  }
  // With the module known, the source package is streamed, not kept (see the top of this file).
  const streamed = module ? needed.filter((f) => f.role === 'source') : [];
  const kept = needed.filter((f) => !streamed.includes(f));
  // Both containers side by side, under the lock all the same: the lock staggers the jobs of a
  // matrix, so one job's fetch (network, xz) overlaps the other's unpack and compile (disk, CPU);
  // without it both jobs fetch at once, then write their kbuild trees at once (measured slower).
  await deps.fetchLock.run(async () => {
    const results = await Promise.allSettled([fetchKept(ctx, d, kernel, deps.image, kept), ...streamed.map((f) => streamOnce(ctx, d, kernel, module!, f, deps))]);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  });
  const got: Record<string, string> = {};
  for (const f of needed) got[f.role] = streamed.includes(f) ? derived.source : path.join(d.debs, f.filename);
  return got;
}

/** The files among `files` whose deb is missing or fails its checksum (a corrupt or partial one is removed, so apt fetches it whole again). */
async function badDebs(ctx: FamilyContext, d: Debian12Dirs, files: SourceFile[]): Promise<SourceFile[]> {
  const bad = [];
  for (const f of files) {
    const p = path.join(d.debs, f.filename);
    const sum = await sha256File(p).catch(() => undefined);
    if (sum === f.sha256) continue;
    if (sum !== undefined) {
      ctx.log?.(`sources: ${f.filename} fails its checksum, fetching it again`);
      await fs.rm(p, { force: true });
    }
    bad.push(f);
  }
  return bad;
}

/** apt-get download of the missing kept debs into debs/, then checked again. */
async function fetchKept(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, image: ImageSpec, needed: SourceFile[]): Promise<void> {
  const missing = await badDebs(ctx, d, needed);
  if (missing.length === 0) return;
  ctx.log?.(`sources: apt-get download ${missing.map((f) => f.name).join(' ')}`);
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(image, ctx.log);
  await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/fetch.sh', ...missing.map((f) => `${f.name}=${f.version}`)],
    // The whole fetch's deadline follows the packages' size (from the apt records) at the minimum rate.
    env: aptBoundsEnv(ctx.net?.limits, missing.reduce((n, f) => n + (f.size || 0), 0)),
    binds: [...(await aptBinds(d)), `${d.debs}:/debs`],
    labels: { 'nbdforge.role': 'fetch', 'nbdforge.kernel': kernel.kernelRelease },
    signal: ctx.signal,
  }).catch((err: unknown) => {
    throw aptFailure(err);
  });
  const still = await badDebs(ctx, d, missing);
  if (still.length) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (removed, fetched again next time): ${still.map((f) => f.filename).join(', ')}`, still.map((f) => f.filename));
}

/** One stream per source package at a time in this process (the lock serialises sourcesOf, not prove's or another caller's fetch). */
async function streamOnce(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, module: ModuleSpec, f: SourceFile, deps: FetchDeps): Promise<void> {
  const key = `${f.sha256} ${module.sources.join(' ')}`;
  let run = deps.streams.get(key);
  if (!run) {
    run = streamSource(ctx, d, kernel, module, f, deps).finally(() => deps.streams.delete(key));
    deps.streams.set(key, run);
  }
  await run;
}

/** The source package onto a tmpfs, checked whole, the module's files out into derived/src-<sha256>, the package gone (fetch.sh EXTRACT). */
async function streamSource(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, module: ModuleSpec, f: SourceFile, deps: FetchDeps): Promise<void> {
  const dest = derivedPaths(d.derived, kernel).source;
  if (await exists(dest)) return;
  ctx.log?.(`sources: apt-get download ${f.name} (only ${module.sources.join(' ')} kept, the package checked whole and dropped)`);
  await fs.mkdir(d.derived, { recursive: true });
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(deps.image, ctx.log);
  await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/fetch.sh'],
    env: { ...aptBoundsEnv(ctx.net?.limits, f.size || 0), EXTRACT: sourceExtract(f, deps.lineOf(kernel), module) },
    binds: [...(await aptBinds(d)), `${d.derived}:/derived`],
    tmpfs: { '/stream': `rw,size=${(f.size || 0) + 64 * 1024 * 1024}` },
    labels: { 'nbdforge.role': 'fetch', 'nbdforge.kernel': kernel.kernelRelease },
    signal: ctx.signal,
  }).catch((err: unknown) => {
    if (err instanceof ContainerError && err.status === 8) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (nothing extracted): ${f.filename}`, [f.filename]);
    throw aptFailure(err);
  });
  if (!(await exists(dest))) throw new Error(`${f.filename}: fetched, but ${module.sources.join(' ')} did not come out of it into ${dest}`);
}
