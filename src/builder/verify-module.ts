/**
 * The verification a build runs, as one function both a build and a pull call: a module against
 * the kernel's own references (its .config gives the vermagic, its Module.symvers every CRC, and
 * where the family has one, the distribution's own build of the module is the oracle).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Check } from '../artifacts/manifest.ts';
import { checkCrcs, checkVermagic, compareSections } from '../verify/index.ts';
import { expectedVermagic } from './vermagic.ts';

/** What the family's pinned sources say about one kernel, as a build container leaves it in /out. */
export interface References {
  config: string;
  symvers: string;
  /** The distribution's own module (the oracle), when the family has one. */
  shipped?: Uint8Array;
}

export async function readReferences(out: string, oracle: boolean): Promise<References> {
  return {
    config: await fs.readFile(path.join(out, 'kernel.config'), 'utf8'),
    symvers: await fs.readFile(path.join(out, 'Module.symvers'), 'utf8'),
    ...(oracle ? { shipped: await fs.readFile(path.join(out, 'shipped.ko')) } : {}),
  };
}

/** Every check of `ko` against the references; `vermagic` is what the kernel expects (untrimmed). */
export function verifyAgainst(ko: Uint8Array, kernelRelease: string, refs: References): { checks: Check[]; vermagic: string } {
  const want = expectedVermagic(kernelRelease, refs.config);
  const checks: Check[] = [checkVermagic(ko, want), checkCrcs(ko, refs.symvers)];
  if (refs.shipped) {
    checks.push({ ...checkVermagic(refs.shipped, want), name: 'vermagic-shipped' });
    const cmp = compareSections(ko, refs.shipped);
    checks.push({ name: cmp.name, ok: cmp.ok, detail: cmp.detail });
  }
  return { checks, vermagic: want };
}
