/**
 * debian12's bootable kernel for `nbdforge prove`: the catalog's `image` package (linux-image-*,
 * the same .deb the oracle reads, pinned by the archive's sha256), fetched by the builder's apt when
 * the cache lacks it, then unpacked once on the host into derived/boot-<sha256> with its own nbd
 * removed (6.12: nbd.ko.xz) and depmod run. The rest of the package's module tree stays as shipped.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { BootKernel, FamilyContext, KernelEntry, SourceFile } from '../family.ts';
import type { GuestKernel } from '../../guest/kernel.ts';
import { NoBootKernelError } from '../family.ts';
import type { ImageSpec } from '../../docker/image.ts';
import { containersOf } from '../../docker/containers.ts';
import { sha256File } from '../../util/hash.ts';
import type { Mutex } from '../../util/mutex.ts';
import { withFileLock } from '../../util/file-lock.ts';
import { aptBinds, aptBoundsEnv, aptFailure } from './apt-bounds.ts';

export interface BootKernelDirs {
  lists: string;
  aptCache: string;
  debs: string;
  derived: string;
}

/** The derived directory a kernel's unpacked image gets (cache du/prune name it). */
export const bootKernelDir = (derived: string, imageSha256: string) => path.join(derived, `boot-${imageSha256}`);

export function supplyBootKernel(ctx: FamilyContext, kernel: KernelEntry, o: { image: ImageSpec; dirs: BootKernelDirs; fetchLock: Mutex }): BootKernel {
  const f = kernel.files.find((x) => x.role === 'image');
  if (!f) throw new NoBootKernelError(`unproven: the catalog names no linux-image package for ${kernel.kernelRelease}`);
  return { package: { name: f.name, version: f.version, sha256: f.sha256 }, unpack: () => unpack(ctx, kernel, f, o) };
}

async function unpack(ctx: FamilyContext, kernel: KernelEntry, f: SourceFile, o: { image: ImageSpec; dirs: BootKernelDirs; fetchLock: Mutex }): Promise<GuestKernel> {
  const dest = bootKernelDir(o.dirs.derived, f.sha256);
  const deb = path.join(o.dirs.debs, f.filename);
  // guest/kernel.ts (zx) loads only when a kernel is unpacked: the family is imported by every build
  const kernelOf = async () => (await import('../../guest/kernel.ts')).unpackKernelDeb(deb, dest, kernel.kernelRelease);
  if (await fs.access(path.join(dest, '.complete')).then(() => true, () => false)) return kernelOf();
  await o.fetchLock.run(async () => {
    if ((await sha256File(deb).catch(() => undefined)) === f.sha256) return;
    await fs.rm(deb, { force: true });
    ctx.log?.(`kernel: apt-get download ${f.name}=${f.version}`);
    const containers = containersOf(ctx);
    const img = await containers.ensureImage(o.image, ctx.log);
    await containers
      .run({
        image: img.tag,
        cmd: ['/usr/local/lib/nbdforge/fetch.sh', `${f.name}=${f.version}`],
        env: aptBoundsEnv(ctx.net?.limits, f.size || 0),
        binds: [...(await aptBinds(o.dirs)), `${o.dirs.debs}:/debs`],
        labels: { 'nbdforge.role': 'fetch', 'nbdforge.kernel': kernel.kernelRelease },
        signal: ctx.signal,
      })
      .catch((err: unknown) => {
        throw aptFailure(err);
      });
    if ((await sha256File(deb).catch(() => undefined)) !== f.sha256) {
      await fs.rm(deb, { force: true });
      throw new Error(`${f.filename}: does not match the archive's sha256 (removed; fetched again next time)`);
    }
  });
  // Two proofs of one kernel (prove --jobs) share one unpack.
  await fs.mkdir(o.dirs.derived, { recursive: true });
  return withFileLock(`${dest}.lock`, kernelOf);
}
