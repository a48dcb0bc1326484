import { sha256, canonicalJson } from '../util/hash.ts';
import type { KernelEntry } from '../families/family.ts';
import type { ModuleSpec } from '../module-spec/module-spec.ts';

/** Bump when the build step changes in a way that makes old artifacts differ from new ones. */
export const RECIPE_VERSION = 1;

export interface KeyInputs {
  kernel: KernelEntry;
  module: ModuleSpec;
  /** Content of every patch rule that may apply (id -> sha256 of its file). */
  patches: Record<string, string>;
  builderImageId: string;
  /** Recipe environment (what the container is told to do). */
  env: Record<string, string>;
  oracle: boolean;
  /** sha256 fingerprint of the signing certificate; absent for an unsigned build (whose key is unchanged). */
  signer?: string;
}

/**
 * A build's identity: the hash of everything that can change its output. Two builds with the same key
 * produce the same module, so a stored artifact with this key means the work is already done.
 */
export function buildKey(i: KeyInputs): string {
  return sha256(
    canonicalJson({
      recipe: RECIPE_VERSION,
      family: i.kernel.family,
      kernelRelease: i.kernel.kernelRelease,
      files: i.kernel.files.map((f) => ({ role: f.role, sha256: f.sha256 })).sort((a, b) => a.role.localeCompare(b.role)),
      module: i.module,
      patches: i.patches,
      image: i.builderImageId,
      env: i.env,
      oracle: i.oracle,
      ...(i.signer ? { signer: i.signer } : {}),
    }),
  );
}
