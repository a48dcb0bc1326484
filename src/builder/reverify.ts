/**
 * Verification of a module nbdforge did not build here (a pulled image): the family's own build
 * recipe runs against the family's pinned sources, exactly as for a build, and what it leaves in
 * /out (the kernel's .config and Module.symvers, the distribution's own module where the family has
 * one) is what the foreign module is checked against, with the checks a build runs. What the
 * registry said about the module (labels, its manifest's checks) plays no part.
 */
import fs from 'node:fs/promises';
import type { Check } from '../artifacts/manifest.ts';
import { containersOf } from '../docker/containers.ts';
import type { Family, FamilyContext } from '../families/family.ts';
import { loadModuleSpec } from '../module-spec/module-spec.ts';
import { loadPatchRules } from '../module-spec/patches.ts';
import { resolveBuild } from './resolve.ts';
import { makeScratch } from './scratch.ts';
import { readReferences, verifyAgainst } from './verify-module.ts';

export interface ReverifyRequest {
  family: Family;
  kernelRelease: string;
  module: string;
  /** The module to check (a signed module is checked as it is: a signature changes no section). */
  ko: Uint8Array;
}

export interface Reverified {
  checks: Check[];
  /** True when the family has the distribution's own module to compare with. */
  oracle: boolean;
}

export async function reverifyModule(ctx: FamilyContext, req: ReverifyRequest): Promise<Reverified> {
  const spec = await loadModuleSpec(req.module);
  const catalog = (await req.family.catalog(ctx)).kernels;
  const plan = resolveBuild(req.family, ctx, catalog, { kernelRelease: req.kernelRelease, module: spec, oracle: true, patchRules: loadPatchRules(spec) });
  const { recipe, kernel } = plan;
  const containers = containersOf(ctx);
  const image = await containers.ensureImage(recipe.image, ctx.log);
  await req.family.ensureSources(ctx, kernel);
  for (const b of recipe.binds) await fs.mkdir(b.split(':')[0], { recursive: true });
  const scratch = await makeScratch(kernel.kernelRelease);
  try {
    await containers.run({
      image: image.tag,
      cmd: recipe.cmd,
      env: recipe.env,
      binds: recipe.binds,
      tmpfs: { '/work': 'rw,exec,size=2g' },
      labels: { 'nbdforge.role': 'verify', 'nbdforge.kernel': kernel.kernelRelease, 'nbdforge.module': spec.name },
      collect: { from: '/out', to: scratch },
      signal: ctx.signal,
    });
    const refs = await readReferences(scratch, recipe.oracle);
    return { checks: verifyAgainst(req.ko, kernel.kernelRelease, refs).checks, oracle: recipe.oracle };
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
