import fs from 'node:fs/promises';
import path from 'node:path';
import type { Containers } from '../docker/containers.ts';
import type { Recipe } from '../families/family.ts';
import type { Signer } from './signer.ts';

export interface SignStepInput {
  containers: Containers;
  imageTag: string;
  recipe: Recipe;
  signer: Signer;
  hash: string;
  /** The verified, unsigned module on the host. */
  module: string;
  /** Host scratch directory this build owns (removed by the caller). */
  scratch: string;
  kernelRelease: string;
  signal?: AbortSignal;
}

const KEY_IN = '/run/nbdforge-sign/signing.key';

/**
 * Sign one verified module in its own container: the builder image, the kernel tree's own
 * scripts/sign-file (recipe.signFile, reached through the build's binds, now read-only), no network.
 * The private key is only ever visible here, bound read-only from the user's file: never during the
 * compile of downloaded sources, never copied. Returns the path of the signed module on the host.
 */
export async function signInContainer(i: SignStepInput): Promise<string> {
  const inDir = path.join(i.scratch, 'sign-in');
  const outDir = path.join(i.scratch, 'sign-out');
  await fs.mkdir(inDir);
  await fs.mkdir(outDir);
  const name = path.basename(i.module);
  await fs.copyFile(i.module, path.join(inDir, name));
  // Old (perl) sign-file reads the certificate only as DER; the public cert may be copied freely.
  await fs.writeFile(path.join(inDir, 'signing.der'), i.signer.cert.der);
  const ro = i.recipe.binds.map((b) => (b.endsWith(':ro') ? b : `${b}:ro`));
  await i.containers.run({
    image: i.imageTag,
    cmd: [i.recipe.signFile, i.hash, KEY_IN, '/in/signing.der', `/in/${name}`, `/out/${name}`],
    binds: [...ro, `${inDir}:/in:ro`, `${outDir}:/out`, `${i.signer.keyPath}:${KEY_IN}:ro`],
    network: 'none',
    labels: { 'nbdforge.role': 'sign', 'nbdforge.kernel': i.kernelRelease },
    signal: i.signal,
  });
  return path.join(outDir, name);
}
