import { closest } from '../util/suggest.ts';
import type { Family, FamilyContext, KernelEntry, Recipe } from '../families/family.ts';
import { UnknownKernelError } from '../families/family.ts';
import type { ModuleSpec } from '../module-spec/module-spec.ts';
import type { PatchRule } from '../module-spec/patches.ts';
import type { Signer } from './signer.ts';

/** One build, fully resolved before anything happens: what buildOne executes. */
export interface BuildPlan {
  kernel: KernelEntry;
  module: ModuleSpec;
  /** Image, command, environment and binds of the build container (the family's recipe). */
  recipe: Recipe;
  /** Loaded once by the caller; their hashes join the build key. */
  patchRules: PatchRule[];
  oracle: boolean;
  signer?: Signer;
  /** What the container must leave in /out; a missing one is the recipe's fault, said before any check. */
  outputs: string[];
}

/**
 * Pick the catalog entry for a kernel release, or say what is close: the nearest few releases (not
 * the whole catalog), and the family the release looks like when that is another one.
 */
export function resolveKernel(kernels: KernelEntry[], release: string, family: string, looksLike?: string): KernelEntry {
  const k = kernels.find((x) => x.kernelRelease === release);
  if (!k) {
    const near = closest(release, kernels.map((x) => x.kernelRelease), 3);
    const other = looksLike && looksLike !== family ? ` (it looks like ${/^[aeiou]/.test(looksLike) ? 'an' : 'a'} ${looksLike} kernel: add --family ${looksLike})` : '';
    throw new UnknownKernelError(
      `unknown kernel "${release}" for family ${family}${other}; ${kernels.length} known${near.length ? `, the closest: ${near.join(', ')}` : ''} ` +
        `(nbdforge kernels --family ${family} lists them; --refresh re-reads the archive)`,
    );
  }
  return k;
}

/**
 * Resolve, then act: (family, kernel, module spec, options) -> one flat plan. Pure: no file, network
 * or engine is touched here (the catalog and the patch rules were read once by the caller).
 */
export function resolveBuild(
  family: Family,
  ctx: FamilyContext,
  catalog: KernelEntry[],
  req: { kernelRelease: string; module: ModuleSpec; oracle: boolean; patchRules: PatchRule[]; signer?: Signer },
): BuildPlan {
  const kernel = resolveKernel(catalog, req.kernelRelease, family.name);
  const recipe = family.recipe(ctx, kernel, req.module, { oracle: req.oracle, patchRules: req.patchRules });
  const m = req.module.name;
  const outputs = [`${m}.ko`, `${m}.debug.ko`, 'kernel.config', 'Module.symvers', 'compiler.txt', ...(recipe.oracle ? ['shipped.ko'] : [])];
  return { kernel, module: req.module, recipe, patchRules: req.patchRules, oracle: recipe.oracle, signer: req.signer, outputs };
}
