/**
 * A bootable kernel for a QEMU guest, unpacked from its distribution package: vmlinuz plus the
 * package's own module tree without the package's own nbd (the module under test is brought in
 * separately), with depmod run for that tree. Shared by `nbdforge prove` and the vm test harness.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { run, SLOW_TOOL_MS } from '../doors/exec.ts';

export interface GuestKernel {
  release: string;
  vmlinuz: string;
  /** Root of the unpacked package: <root>/lib/modules/<release>/... */
  root: string;
  moduleDir: string;
}

export const guestKernelAt = (root: string, release: string, vmlinuz = path.join(root, 'boot', `vmlinuz-${release}`)): GuestKernel => ({
  release,
  vmlinuz,
  root,
  moduleDir: path.join(root, 'lib', 'modules', release),
});

const exists = (p: string) => fs.access(p).then(() => true, () => false);
const remove = (p: string) => fs.rm(p, { recursive: true, force: true });

/** The distribution's own nbd, in every compression a kernel tree may use (6.1 ships nbd.ko, 6.12 nbd.ko.xz). */
const OWN_NBD = ['nbd.ko', 'nbd.ko.xz', 'nbd.ko.zst', 'nbd.ko.gz'];

/**
 * `dpkg-deb -x` a linux-image .deb into `dest` (made whole: unpacked beside, then renamed in), the
 * package's nbd removed, depmod run. `dest` must not exist yet or is replaced; a marker file says
 * it is complete, so a half-done unpack is never taken for a kernel.
 */
export async function unpackKernelDeb(deb: string, dest: string, release: string): Promise<GuestKernel> {
  return unpackKernelWith(dest, release, path.basename(deb), async (tmp) => {
    await run('dpkg-deb', ['-x', deb, tmp], { timeoutMs: SLOW_TOOL_MS });
  });
}

/**
 * Any kernel package, unpacked by `extract` into a fresh directory beside `dest` (which must then
 * hold boot/vmlinuz-<release> and lib/modules/<release>/), made a guest kernel the same way: its own
 * nbd removed, depmod run, the marker written, renamed in whole.
 */
export async function unpackKernelWith(dest: string, release: string, what: string, extract: (tmp: string) => Promise<void>): Promise<GuestKernel> {
  const k = guestKernelAt(dest, release);
  if (await exists(path.join(dest, '.complete'))) return k;
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const tmp = await fs.mkdtemp(`${dest}.tmp-`);
  try {
    await extract(tmp);
    for (const f of OWN_NBD) await remove(path.join(tmp, 'lib', 'modules', release, 'kernel', 'drivers', 'block', f));
    if (!(await exists(path.join(tmp, 'lib', 'modules', release)))) throw new Error(`${what} holds no lib/modules/${release}`);
    await run('depmod', ['-b', tmp, release], { timeoutMs: SLOW_TOOL_MS });
    if (!(await exists(path.join(tmp, 'boot', `vmlinuz-${release}`)))) throw new Error(`${what} holds no boot/vmlinuz-${release}`);
    await fs.writeFile(path.join(tmp, '.complete'), `${what}\n`);
    await remove(dest);
    await fs.rename(tmp, dest);
  } finally {
    await remove(tmp);
  }
  return k;
}
