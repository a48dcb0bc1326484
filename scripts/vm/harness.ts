/**
 * The VM harness used by the vm test tier (prepare-host, map, compose): a real Debian kernel without
 * nbd.ko, a small initramfs, a shared directory, one script per boot.
 *
 *   const g = await prepareGuest({ release: '6.1.0-56-amd64', cacheDir });
 *   const r = await g.boot({ share, script: 'boot.sh' });   // r.exitCode is the script's exit status
 */
import { fs, path } from 'zx';
import { resolvePaths } from '../../src/paths.ts';
import { ensureKernel, type GuestKernel } from './kernels.ts';
import { buildInitramfs } from '../../src/guest/initramfs.ts';
import { bootGuest, type BootSpec, type BootResult } from '../../src/guest/qemu.ts';
import { prepareHost } from '../../src/prepare-host/prepare-host.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { parseOptions, DEFAULT_OPTIONS } from '../../src/prepare-host/options.ts';

export { testReleases, availableReleases, newestRelease, type KernelLine } from './kernels.ts';
export type { BootResult } from '../../src/guest/qemu.ts';

export interface Guest {
  kernel: GuestKernel;
  initramfs: string;
  boot(spec: Omit<BootSpec, 'kernel' | 'initramfs'>): Promise<BootResult>;
}

/** <cache>/vm, i.e. $NBDFORGE_HOME/cache/vm (default ~/.local/share/nbdforge/cache/vm). */
export function vmCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(resolvePaths(env).cache, 'vm');
}

export async function prepareGuest(opts: { release: string; cacheDir?: string; modules?: string[]; tools?: string[]; overlay?: Record<string, string>; sh?: string; links?: Record<string, string> }): Promise<Guest> {
  const cacheDir = opts.cacheDir ?? vmCacheDir();
  const kernel = await ensureKernel(opts.release, cacheDir);
  const initramfs = await buildInitramfs({ kernel, modules: opts.modules ?? [], tools: opts.tools, overlay: opts.overlay, sh: opts.sh, links: opts.links, cacheDir });
  return { kernel, initramfs, boot: (spec) => bootGuest({ ...spec, kernel, initramfs }) };
}

/**
 * Guests have no nbd.ko: a test that needs nbd writes prepare-host's script for the guest's kernel
 * into its share and runs it first in the guest (`sh /share/prepare-host.sh >/dev/null || exit 90`).
 * Refuses, like the CLI, when the store has no verified module for that kernel.
 */
export async function emitPrepareHostScript(opts: { store: string; release: string; file: string; options?: string }): Promise<void> {
  const report = await prepareHost({
    runner: new LocalRunner(),
    mode: 'emit',
    from: opts.store,
    kernelRelease: opts.release,
    options: parseOptions(opts.options ?? DEFAULT_OPTIONS),
    generator: 'nbdforge vm harness',
    // the guests only need nbd loaded: the kernel hook has its own vm test (test/vm/kernel-hook.test.ts)
    followKernels: false,
  });
  if (report.script === undefined) throw new Error(`prepare-host for ${opts.release}: ${report.result.outcome}: ${report.result.message}`);
  await fs.writeFile(opts.file, report.script, { mode: 0o755 });
}
