/**
 * CentOS 7: the catalog is the vault's signed repodata (src/families/el/catalog, over the generic src/rpm-repo), the sources are the
 * kernel SRPM and kernel-devel RPM (sha256 from the repodata, RPM signature by the CentOS key), and
 * the build runs in a container of the kernel's own point release (containers/el7). `prove` boots
 * the kernel RPM of the same version, pinned and checked the same way (src/families/el/boot-kernel.ts).
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Family, FamilyContext, KernelEntry, Recipe } from '../family.ts';
import type { ModuleSpec } from '../../module-spec/module-spec.ts';
import type { ImageSpec } from '../../docker/image.ts';
import { cachePath } from '../../fetch/index.ts';
import { elCatalogResult, ensureElSources, familyDataDir, loadElData, type ElData, type ElKernelEntry } from '../el/catalog/index.ts';
import { encodePatchRules } from '../../module-spec/patches.ts';
import { el7ConfigFromEnv, type El7FamilyConfig } from './config.ts';
import { createElCli } from '../el/cli.ts';
import { elCacheFiles, elCacheLayout, elCachedCatalog, elDerivedDir } from '../el/cache.ts';
import { supplyElBootKernel } from '../el/boot-kernel.ts';

const CONTAINERS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../containers');

/** The builder image for one point release (or the stand-in, the same for all). */
export function el7Image(cfg: El7FamilyConfig, release: string, defaultVault: string): ImageSpec {
  if (cfg.builder === 'standin') {
    return { repo: 'nbdforge/el7-standin-builder', contextDir: path.join(CONTAINERS, 'el7-standin'), buildArgs: {}, baseImage: cfg.standinBase };
  }
  return {
    repo: 'nbdforge/el7-builder',
    contextDir: path.join(CONTAINERS, 'el7'),
    buildArgs: { RELEASE: release, VAULT: (cfg.vault ?? defaultVault).replace(/\/+$/, '') },
    baseImage: cfg.baseImage.replaceAll('{release}', release),
    missingBaseHint:
      `\`docker pull ${cfg.baseImage.replaceAll('{release}', release)}\`, or \`docker import\` a CentOS ${release} root filesystem ` +
      'under that name (set NBDFORGE_EL7_BASE to use another name; {release} is replaced)',
  };
}

/** Where the el7 family keeps things below the cache root (downloads are content-addressed there). */
function dirs(ctx: Pick<FamilyContext, 'paths'>) {
  return { cache: ctx.paths.cache, derived: elDerivedDir(ctx.paths.cache, 'el7') };
}

function el7Entry(kernel: KernelEntry): ElKernelEntry {
  const k = kernel as Partial<ElKernelEntry>;
  if (kernel.family !== 'el7' || typeof k.release !== 'string') throw new Error(`${kernel.kernelRelease} is not an el7 catalog entry`);
  return kernel as ElKernelEntry;
}

export function createEl7(env: NodeJS.ProcessEnv): Family {
  const cfg = el7ConfigFromEnv(env);
  let data: Promise<ElData> | undefined;
  const loadData = () => (data ??= loadElData(cfg.dataDir ?? familyDataDir('el7'), 'el7'));

  return {
    name: 'el7',
    cli: createElCli('el7', '7.9.2009'),
    packageChannel: 'yum',

    async cachedCatalog(ctx) {
      return elCachedCatalog(ctx.paths.cache, await loadData());
    },
    cacheLayout: (ctx) => elCacheLayout(ctx.paths.cache, 'el7'),
    cacheFiles: (ctx, kernel) => elCacheFiles(ctx.paths.cache, 'el7', kernel),

    async catalog(ctx, opts = {}) {
      const d = await loadData();
      const r = await elCatalogResult({ cacheDir: dirs(ctx).cache, data: d, vault: cfg.vault, refresh: opts.refresh, signal: ctx.signal, net: ctx.net });
      // Each entry carries the vault its builder image points yum at: recipe() reads no state kept from this call.
      return { ...r, kernels: r.kernels.map((k) => ({ ...k, builderVault: cfg.vault ?? d.defaultVault })) };
    },

    async ensureSources(ctx, kernel) {
      const d = await loadData();
      ctx.log?.(`sources: ${kernel.files.map((f) => f.filename).join(', ')} (sha256 from signed repodata, RPM signatures)`);
      return ensureElSources(kernel.kernelRelease, { cacheDir: dirs(ctx).cache, data: d, signal: ctx.signal, net: ctx.net });
    },

    // the kernel RPM the catalog pins, checked like kernel-devel, unpacked on the host; a kernel the
    // catalog does not list (or lists without one) has none: unproven, said by supplyElBootKernel
    bootKernel: (ctx, kernel) => supplyElBootKernel(ctx, kernel as ElKernelEntry, { cacheDir: dirs(ctx).cache, derived: dirs(ctx).derived, data: loadData }),

    recipe(ctx, kernel: KernelEntry, module: ModuleSpec, opts): Recipe {
      const k = el7Entry(kernel);
      const of = (role: 'srpm' | 'devel') => k.files.find((f) => f.role === role)!;
      // Downloads live at <cache>/sha256/<ab>/<sha256>; the container sees that tree read-only.
      const inRpms = (sha: string) => `/rpms/${path.relative(path.join(dirs(ctx).cache, 'sha256'), cachePath(dirs(ctx).cache, sha))}`;
      const srpm = of('srpm');
      const devel = of('devel');
      return {
        image: el7Image(cfg, k.release, k.builderVault ?? 'https://vault.centos.org'),
        cmd: ['/usr/local/lib/nbdforge/build.sh'],
        env: {
          KREL: k.kernelRelease,
          KVER: k.sourceVersion,
          DEVEL_RPM: inRpms(devel.sha256),
          DEVEL_KEY: devel.sha256,
          DEVEL_NAME: devel.filename,
          SRPM: inRpms(srpm.sha256),
          SRPM_KEY: srpm.sha256,
          SRPM_NAME: srpm.filename,
          MODULE: module.name,
          MODULE_SOURCES: module.sources.join(' '),
          PATCH_RULES: encodePatchRules(opts.patchRules),
          DERIVED: '/derived',
        },
        binds: [`${path.join(dirs(ctx).cache, 'sha256')}:/rpms:ro`, `${dirs(ctx).derived}:/derived`],
        // CentOS 7 ships no nbd.ko to compare with: that is why this family exists.
        oracle: false,
        // Each kernel-devel tree's own: the 3.10 trees sign in the format their kernel reads.
        signFile: `/derived/devel-${devel.sha256}/usr/src/kernels/${k.kernelRelease}/scripts/sign-file`,
      };
    },
  };
}
