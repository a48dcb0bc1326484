import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CatalogResult, Family, FamilyContext, KernelEntry, Recipe } from '../family.ts';
import type { ModuleSpec } from '../../module-spec/module-spec.ts';
import type { ImageSpec } from '../../docker/image.ts';
import { containersOf } from '../../docker/containers.ts';
import { buildCatalog, parseAptRecords, type Debian12Kernel } from './catalog.ts';
import { aptQuery, fill, LINES_FILE, loadLines, type Line } from './lines.ts';
import { writeFileAtomic } from '../../util/atomic.ts';
import { Mutex } from '../../util/mutex.ts';
import { encodePatchRules, type PatchRule } from '../../module-spec/patches.ts';
import { aptBinds, aptBoundsEnv, aptFailure, APT_UPDATE_BYTES } from './apt-bounds.ts';
import { supplyBootKernel } from './boot-kernel.ts';
import { debian12CacheFiles, debian12CacheLayout, debian12Dirs, type Debian12Dirs } from './dirs.ts';
import { headersKey, HEADER_ROLES } from './derived.ts';
import { sourcesOf, type FetchDeps } from './fetch.ts';
import { NbdforgeError } from '../../errors.ts';

export { SourceChecksumError } from './fetch.ts';


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

export function createDebian12(env: NodeJS.ProcessEnv): Family {
  const image = debian12Image(env);
  const fetchLock = new Mutex();
  const fetch: FetchDeps = { image, fetchLock, lineOf };
  return {
    name: 'debian12',
    cli: { about: 'debian12: the list comes from apt, read in the builder container, cached for a day (--refresh or\n`sync` reads the archive again).' },
    packageChannel: 'apt',
    cachedCatalog: async (ctx) => readCachedCatalog(debian12Dirs(ctx)),
    cacheLayout: async (ctx) => debian12CacheLayout(debian12Dirs(ctx)),
    cacheFiles: (ctx, kernel) => debian12CacheFiles(debian12Dirs(ctx), kernel),
    catalog: (ctx, opts = {}) => currentCatalog(ctx, image, opts),
    ensureSources: (ctx, kernel, module) => sourcesOf(ctx, debian12Dirs(ctx), kernel, module, fetch),
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
  const containers = containersOf(ctx);
  const img = await containers.ensureImage(image, ctx.log);
  ctx.log?.('catalog: apt-get update in the builder container');
  const data = loadLines();
  const q = aptQuery(data);
  const { output } = await containers.run({
    image: img.tag,
    cmd: ['/usr/local/lib/nbdforge/catalog.sh'],
    env: { CATALOG_PREFIXES: q.prefixes.join(' '), CATALOG_PATTERNS: q.patterns.join('\n'), ...aptBoundsEnv(ctx.net?.limits, APT_UPDATE_BYTES) },
    binds: await aptBinds(d),
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
