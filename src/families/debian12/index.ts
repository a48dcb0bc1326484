import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CatalogResult, Family, FamilyContext, KernelEntry, Recipe, SourceFile } from '../family.ts';
import type { ModuleSpec } from '../../module-spec/module-spec.ts';
import type { ImageSpec } from '../../docker/image.ts';
import { containersOf } from '../../docker/containers.ts';
import { buildCatalog, parseAptRecords, type Debian12Kernel } from './catalog.ts';
import { aptQuery, fill, LINES_FILE, loadLines, type Line } from './lines.ts';
import { sha256, sha256File } from '../../util/hash.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { Mutex } from '../../util/mutex.ts';
import { encodePatchRules, type PatchRule } from '../../module-spec/patches.ts';
import { aptBoundsEnv, aptFailure, APT_UPDATE_BYTES } from './apt-bounds.ts';
import { supplyBootKernel } from './boot-kernel.ts';
import { debian12CacheFiles, debian12CacheLayout, debian12Dirs, type Debian12Dirs } from './dirs.ts';
import { ContainerError } from '../../docker/errors.ts';
import { derivedPaths, headersKey, HEADER_ROLES, sourceExtract } from './derived.ts';
import { NbdforgeError } from '../../errors.ts';


const CONTEXT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../containers/debian12');
/** The archive moves on a few times a month; a day-old catalog is still a good answer. */
const CATALOG_TTL_MS = 24 * 3600_000;

export function debian12Image(env: NodeJS.ProcessEnv): ImageSpec {
  return { repo: 'nbdforge/debian12-builder', contextDir: CONTEXT, buildArgs: {}, baseImage: env.NBDFORGE_DEBIAN_BASE ?? 'debian:bookworm' };
}

/** The cached catalog carries the hash of the data it was made from. */
type Cached = CatalogResult & { linesSha256?: string };

/** The lines.json entry a catalog kernel belongs to. */
function lineOf(kernel: KernelEntry): Line {
  const name = (kernel as Partial<Debian12Kernel>).line;
  const line = loadLines().lines.find((l) => l.line === name);
  if (!line) throw new Error(`${kernel.kernelRelease}: line ${JSON.stringify(name)} is not in ${LINES_FILE}; run nbdforge kernels --refresh`);
  return line;
}

/** The archive offers no kernel of any line in lines.json (wrong apt sources, or the data is wrong). */
export class EmptyCatalogError extends NbdforgeError {
  override name = 'EmptyCatalogError';
}

/** Files fetched from the archive whose sha256 is not the catalog's (they were removed). */
export class SourceChecksumError extends NbdforgeError {
  override name = 'SourceChecksumError';
  constructor(message: string, readonly files: string[]) {
    super(message);
  }
}

const exists = (p: string) => fs.access(p).then(() => true, () => false);

export function createDebian12(env: NodeJS.ProcessEnv): Family {
  const image = debian12Image(env);
  const fetchLock = new Mutex();
  return {
    name: 'debian12',
    cli: { about: 'debian12: the list comes from apt, read in the builder container, cached for a day (--refresh or\n`sync` reads the archive again).' },
    packageChannel: 'apt',
    cachedCatalog: async (ctx) => readCachedCatalog(debian12Dirs(ctx)),
    cacheLayout: async (ctx) => debian12CacheLayout(debian12Dirs(ctx)),
    cacheFiles: (ctx, kernel) => debian12CacheFiles(debian12Dirs(ctx), kernel),
    catalog: (ctx, opts = {}) => currentCatalog(ctx, image, opts),
    ensureSources: (ctx, kernel, module) => sourcesOf(ctx, kernel, module, image, fetchLock),
    bootKernel: (ctx, kernel) => supplyBootKernel(ctx, kernel, { image, dirs: debian12Dirs(ctx), fetchLock }),
    recipe: (ctx, kernel, module, opts) => debian12Recipe(debian12Dirs(ctx), image, kernel, module, opts),
  };
}

const readCachedCatalog = (d: Debian12Dirs) => fs.readFile(d.catalog, 'utf8').then((t) => JSON.parse(t) as Cached, () => undefined);

/** The cached catalog while it is a day old at most and made from today's lines.json; else the archive read again. */
async function currentCatalog(ctx: FamilyContext, image: ImageSpec, opts: { refresh?: boolean }): Promise<CatalogResult> {
  const cached = await readCachedCatalog(debian12Dirs(ctx));
  // A catalog made from other lines.json data (a line or flavour added) is stale whatever its age.
  const current = cached?.linesSha256 === loadLines().sha256;
  if (!opts.refresh && cached && current && Date.now() - Date.parse(cached.fetchedAt) < CATALOG_TTL_MS) return cached;
  try {
    return await refreshCatalog(ctx, image);
  } catch (err) {
    // An expired catalog still names real packages; an explicit --refresh must not fall back.
    if (!cached || !current || opts.refresh || ctx.signal?.aborted) throw err;
    ctx.log?.(`catalog: refresh failed (${(err as Error).message.split('\n')[0]}); using the catalog read ${cached.fetchedAt}`);
    return cached;
  }
}

async function refreshCatalog(ctx: FamilyContext, image: ImageSpec): Promise<CatalogResult> {
  const d = debian12Dirs(ctx);
  await fs.mkdir(d.lists, { recursive: true });
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(image, ctx.log);
  ctx.log?.('catalog: apt-get update in the builder container');
  const data = loadLines();
  const q = aptQuery(data);
  const { output } = await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/catalog.sh'],
    env: { CATALOG_PREFIXES: q.prefixes.join(' '), CATALOG_PATTERNS: q.patterns.join('\n'), ...aptBoundsEnv(ctx.net?.limits, APT_UPDATE_BYTES) },
    binds: [`${d.lists}:/var/lib/apt/lists`],
    labels: { 'nbdforge.role': 'catalog' },
    signal: ctx.signal,
  }).catch((err: unknown) => {
    throw aptFailure(err);
  });
  const result: Cached = { ...buildCatalog(parseAptRecords(output), new Date().toISOString(), data), linesSha256: data.sha256 };
  if (result.kernels.length === 0) throw new EmptyCatalogError(`the apt archive offers no kernel of the lines in ${LINES_FILE} (${data.lines.map((l) => l.line).join(', ')}); check the host's apt sources`);
  await writeFileAtomic(d.catalog, JSON.stringify(result, null, 2) + '\n');
  return result;
}

/** The kernel's files (by role) from the archive, each checked against its sha256; see fetchDebs. */
async function sourcesOf(ctx: FamilyContext, kernel: KernelEntry, module: ModuleSpec | undefined, image: ImageSpec, fetchLock: Mutex): Promise<Record<string, string>> {
  const d = debian12Dirs(ctx);
  await fs.mkdir(d.debs, { recursive: true });
  // A deb whose derived product (unpacked kbuild tree, extracted nbd.c, shipped module) is already
  // in the cache is not read by the build, so it is neither hashed nor fetched again.
  const derived = derivedPaths(d.derived, kernel);
  const needed: SourceFile[] = [];
  for (const f of kernel.files) {
    const product = derived[f.role];
    if (!product || !(await exists(product))) needed.push(f);
  }
  // Fetches are serialised: parallel builds share kbuild/compiler debs and one apt cache.
  await fetchLock.run(() => fetchDebs(ctx, d, kernel, module, image, needed));
  const got: Record<string, string> = {};
  for (const f of needed) got[f.role] = f.role === 'source' && !(await exists(path.join(d.debs, f.filename))) ? derived.source : path.join(d.debs, f.filename);
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

/** apt-get download of the missing debs in the builder container, then checked again. */
async function fetchDebs(ctx: FamilyContext, d: Debian12Dirs, kernel: KernelEntry, module: ModuleSpec | undefined, image: ImageSpec, needed: SourceFile[]): Promise<void> {
  const missing = await badDebs(ctx, d, needed);
  if (missing.length === 0) return;
  const derived = derivedPaths(d.derived, kernel);
  // With the module known, the source package (139 MB for 6.1) is fetched, checked and left behind:
  // the derived cache keeps only the module's sources (see sourceExtract).
  const streamed = module ? missing.filter((f) => f.role === 'source') : [];
  const kept = missing.filter((f) => !streamed.includes(f));
  ctx.log?.(`sources: apt-get download ${missing.map((f) => f.name).join(' ')}${streamed.length ? ` (${streamed.map((f) => f.name).join(' ')}: only ${module!.sources.join(' ')} kept)` : ''}`);
  await fs.mkdir(d.lists, { recursive: true });
  await fs.mkdir(d.derived, { recursive: true });
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(image, ctx.log);
  const biggest = Math.max(0, ...streamed.map((f) => f.size || 0));
  await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/fetch.sh', ...kept.map((f) => `${f.name}=${f.version}`)],
    // The whole fetch's deadline follows the packages' size (from the apt records) at the minimum rate.
    env: { ...aptBoundsEnv(ctx.net?.limits, missing.reduce((n, f) => n + (f.size || 0), 0)), ...(streamed.length ? { EXTRACT: streamed.map((f) => sourceExtract(f, lineOf(kernel), module!)).join('\n') } : {}) },
    binds: [`${d.lists}:/var/lib/apt/lists`, `${d.debs}:/debs`, ...(streamed.length ? [`${d.derived}:/derived`] : [])],
    ...(streamed.length ? { tmpfs: { '/stream': `rw,size=${biggest + 64 * 1024 * 1024}` } } : {}),
    labels: { 'nbdforge.role': 'fetch', 'nbdforge.kernel': kernel.kernelRelease },
    signal: ctx.signal,
  }).catch((err: unknown) => {
    if (err instanceof ContainerError && err.status === 8) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (nothing extracted): ${streamed.map((f) => f.filename).join(', ')}`, streamed.map((f) => f.filename));
    throw aptFailure(err);
  });
  const still = await badDebs(ctx, d, kept);
  if (still.length) throw new SourceChecksumError(`downloaded files do not match the archive's checksums (removed, fetched again next time): ${still.map((f) => f.filename).join(', ')}`, still.map((f) => f.filename));
  for (const f of streamed) if (!(await exists(derived[f.role]))) throw new Error(`${f.filename}: fetched, but ${module!.sources.join(' ')} did not come out of it into ${derived[f.role]}`);
}

/** build.sh's inputs: the debs by name, the line's source layout, the module and its patch rules. */
function debian12Recipe(d: Debian12Dirs, image: ImageSpec, kernel: KernelEntry, module: ModuleSpec, opts: { oracle: boolean; patchRules: PatchRule[] }): Recipe {
  const fileOf = (role: string) => kernel.files.find((f) => f.role === role)!;
  const line = lineOf(kernel);
  const common = fileOf('headers-common').name;
  const modPath = path.posix.join(path.posix.dirname(module.sources[0]), module.name);
  return {
    image,
    cmd: ['/usr/local/lib/nbdforge/build.sh'],
    env: {
      KREL: kernel.kernelRelease,
      HEADER_DEBS: HEADER_ROLES.map((r) => fileOf(r).filename).join(' '),
      HEADERS_KEY: headersKey(kernel),
      SOURCE_DEB: fileOf('source').filename,
      SOURCE_KEY: fileOf('source').sha256,
      SOURCE_TARBALL: line.sourceTarball,
      SOURCE_PREFIX: line.sourcePrefix,
      // The headers-common package unpacks to /usr/src/<its name> (linux-headers-6.1.0-56-common-rt).
      COMMON_TREE: `/usr/src/${common}`,
      MODULE: module.name,
      MODULE_SOURCES: module.sources.join(' '),
      PATCH_RULES: encodePatchRules(opts.patchRules),
      DERIVED: '/derived',
      ...(opts.oracle
        ? { IMAGE_DEB: fileOf('image').filename, IMAGE_KEY: fileOf('image').sha256, SHIPPED_MEMBER: fill(line.shippedModule, { release: kernel.kernelRelease, path: modPath }) }
        : {}),
    },
    binds: [`${d.debs}:/debs:ro`, `${d.derived}:/derived`],
    oracle: opts.oracle,
    reentrant: true,
    // the kbuild package's own (linux-kbuild-6.1, linux-kbuild-6.12.N+deb12), from the tree build.sh
    // unpacked into the derived cache
    signFile: `/derived/kbuild-${headersKey(kernel)}/usr/lib/${fileOf('kbuild').name}/scripts/sign-file`,
  };
}
