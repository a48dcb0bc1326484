/**
 * debian12's downloads for one build, in one container under the family's fetch lock (parallel builds
 * share the kbuild and compiler debs and the apt cache; the lock also staggers a matrix's jobs, so one
 * job's fetch overlaps the other's unpack and compile). The kept packages (headers, kbuild, compiler,
 * image) go into debs/; the source package, with the module known, onto a tmpfs in the same container,
 * is checked whole against the catalog's sha256, the module's files are streamed out into
 * derived/src-<sha256> and the package is dropped (fetch.sh EXTRACT). One container, not two side by
 * side: with a cold apt cache both would parse the apt lists (measured slower; issue 20 item 3).
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
  await deps.fetchLock.run(() => fetchDebs(ctx, d, kernel, module, deps, needed, streamed, derived.source));
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

/** apt-get download of the missing debs (the streamed ones into the container's tmpfs, see the top), then checked again. */
async function fetchDebs(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, module: ModuleSpec | undefined, deps: FetchDeps, needed: SourceFile[], streamed: SourceFile[], dest: string): Promise<void> {
  const kept = await badDebs(ctx, d, needed.filter((f) => !streamed.includes(f)));
  // two kernels of one source version (flavours of one ABI): the second finds the first's product
  const stream = streamed.length && !(await exists(dest)) ? streamed : [];
  if (kept.length + stream.length === 0) return;
  ctx.log?.(`sources: apt-get download ${[...kept, ...stream].map((f) => f.name).join(' ')}${stream.length ? ` (${stream.map((f) => f.name).join(' ')}: checked whole, only ${module!.sources.join(' ')} kept)` : ''}`);
  await fs.mkdir(d.derived, { recursive: true });
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(deps.image, ctx.log);
  const biggest = Math.max(0, ...stream.map((f) => f.size || 0));
  await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/fetch.sh', ...kept.map((f) => `${f.name}=${f.version}`)],
    // The whole fetch's deadline follows the packages' size (from the apt records) at the minimum rate.
    env: { ...aptBoundsEnv(ctx.net?.limits, [...kept, ...stream].reduce((n, f) => n + (f.size || 0), 0)), ...(stream.length ? { EXTRACT: stream.map((f) => sourceExtract(f, deps.lineOf(kernel), module!)).join('\n') } : {}) },
    binds: [...(await aptBinds(d)), `${d.debs}:/debs`, ...(stream.length ? [`${d.derived}:/derived`] : [])],
    ...(stream.length ? { tmpfs: { '/stream': `rw,size=${biggest + 64 * 1024 * 1024}` } } : {}),
    labels: { 'nbdforge.role': 'fetch', 'nbdforge.kernel': kernel.kernelRelease },
    signal: ctx.signal,
  }).catch((err: unknown) => {
    if (err instanceof ContainerError && err.status === 8) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (nothing extracted): ${stream.map((f) => f.filename).join(', ')}`, stream.map((f) => f.filename));
    throw aptFailure(err);
  });
  const still = await badDebs(ctx, d, kept);
  if (still.length) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (removed, fetched again next time): ${still.map((f) => f.filename).join(', ')}`, still.map((f) => f.filename));
  if (stream.length && !(await exists(dest))) throw new Error(`${stream[0].filename}: fetched, but ${module!.sources.join(' ')} did not come out of it into ${dest}`);
}
