/**
 * One key, one kernel: what an artifact is filed under (its kernel release, its build key) must be
 * what its bytes say. The module's own vermagic names the kernel it was built for; a module filed
 * under another release would be installed, packaged or tagged for the wrong kernel.
 */
import { ElfError, parseElf, vermagicOf } from '../verify/index.ts';

/** Why `ko` is not the module of `m.kernelRelease` with vermagic `m.vermagic`, or undefined when it is. */
export function vermagicMismatch(ko: Uint8Array, m: { kernelRelease: string; vermagic: string }, where: string): string | undefined {
  let actual: string;
  try {
    actual = vermagicOf(parseElf(ko, where)).trim();
  } catch (err) {
    if (err instanceof ElfError) return `${where}: not a kernel module (${err.message})`;
    throw err;
  }
  const release = actual.split(/\s+/)[0];
  if (release !== m.kernelRelease) return `${where}: its vermagic "${actual}" is for kernel ${release}, but it is filed under ${m.kernelRelease}`;
  if (actual !== m.vermagic.trim()) return `${where}: its vermagic "${actual}" differs from its manifest's "${m.vermagic.trim()}"`;
  return undefined;
}

/** The identity of an artifact in messages: "nbd for 6.1.0-50-amd64 (debian12)". */
export function describe(a: { module: string; kernelRelease: string; family: string }): string {
  return `${a.module} for ${a.kernelRelease} (${a.family})`;
}
