/**
 * Real Debian kernels for QEMU guests: discovered from apt, downloaded with `apt-get download`,
 * unpacked once into the cache with nbd.ko removed and depmod run. Nothing here touches the host's
 * own /boot or /lib/modules.
 */
import { $, fs, path } from 'zx';
import { withFileLock } from '../../src/util/file-lock.ts';
import { guestKernelAt, unpackKernelDeb, type GuestKernel } from '../../src/guest/kernel.ts';

export type { GuestKernel };

/** The kernel lines a guest can boot: package-name prefix and the amd64 release pattern (group 2 orders them). */
const LINES = {
  '6.1': { prefix: 'linux-image-6.1.0-', image: /^linux-image-(6\.1\.0-(\d+)-amd64)$/ },
  // 6.12 ships its modules as .ko.xz; the signed and the -unsigned package hold the same vmlinuz and modules.
  '6.12': { prefix: 'linux-image-6.12.', image: /^linux-image-(6\.12\.(\d+)\+deb12-amd64)(?:-unsigned)?$/ },
} as const;
export type KernelLine = keyof typeof LINES;

/** Kernel releases apt can fetch, oldest first (e.g. 6.1.0-47-amd64 ... 6.1.0-56-amd64; 6.12.N+deb12-amd64 with line '6.12'). */
export async function availableReleases(line: KernelLine = '6.1'): Promise<string[]> {
  const { prefix, image } = LINES[line];
  let out = (await $({ quiet: true })`apt-cache pkgnames ${prefix}`).stdout;
  if (!out.trim()) {
    // A fresh machine may never have fetched its package lists.
    await $({ quiet: true })`apt-get update -q`;
    out = (await $({ quiet: true })`apt-cache pkgnames ${prefix}`).stdout;
  }
  const found = new Map<string, number>();
  for (const l of out.split('\n')) {
    const m = image.exec(l.trim());
    if (m) found.set(m[1], Number(m[2]));
  }
  return [...found].sort((a, b) => a[1] - b[1]).map(([release]) => release);
}

/** The kernels a VM test boots: NBDFORGE_VM_KERNELS (comma list), else the newest and the oldest apt offers. */
export async function testReleases(env: NodeJS.ProcessEnv = process.env): Promise<{ newest: string; older: string }> {
  const given = env.NBDFORGE_VM_KERNELS?.split(',').map((s) => s.trim()).filter(Boolean);
  if (given && given.length >= 2) return { newest: given[0], older: given[1] };
  const all = await availableReleases();
  if (all.length < 2) throw new Error(`apt offers ${all.length} linux-image-6.1.0-*-amd64 packages; the VM tests need two (run apt-get update?)`);
  return { newest: all[all.length - 1], older: all[0] };
}

/** The newest amd64 kernel of a line apt offers, or NBDFORGE_VM_KERNEL_<line without dots> (e.g. NBDFORGE_VM_KERNEL_612). */
export async function newestRelease(line: KernelLine, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const given = env[`NBDFORGE_VM_KERNEL_${line.replace('.', '')}`]?.trim();
  if (given) return given;
  const all = await availableReleases(line);
  if (all.length === 0) throw new Error(`apt offers no ${LINES[line].prefix}*-amd64 package (run apt-get update?)`);
  return all[all.length - 1];
}

const inflight = new Map<string, Promise<GuestKernel>>();

/**
 * Download and unpack linux-image-<release> into <cacheDir>/kernels/<release> (once). Concurrent
 * callers share one unpack: in this process through a shared promise, across processes through a
 * lock file (a fresh cache once lost /boot to two unpacks sharing one temporary directory).
 */
export function ensureKernel(release: string, cacheDir: string): Promise<GuestKernel> {
  const key = `${cacheDir}\0${release}`;
  let p = inflight.get(key);
  if (!p) {
    p = withFileLock(path.join(cacheDir, 'kernels', `${release}.lock`), () => unpackKernel(release, cacheDir)).finally(() => inflight.delete(key));
    inflight.set(key, p);
  }
  return p;
}

async function unpackKernel(release: string, cacheDir: string): Promise<GuestKernel> {
  const root = path.join(cacheDir, 'kernels', release);
  if (await fs.pathExists(path.join(root, '.complete'))) return guestKernelAt(root, release);
  const debs = path.join(cacheDir, 'debs');
  await fs.mkdirp(debs);
  const cached = (f: string) => (f.startsWith(`linux-image-${release}_`) || f.startsWith(`linux-image-${release}-unsigned_`)) && f.endsWith('.deb');
  let deb = (await fs.readdir(debs)).find(cached);
  if (!deb) {
    // The signed image when apt has it, else the -unsigned one (newer 6.12 ABIs may have only that).
    for (const name of [`linux-image-${release}`, `linux-image-${release}-unsigned`]) {
      if (!(await $({ quiet: true, nothrow: true })`apt-cache show ${name}`).stdout.trim()) continue;
      await $({ cwd: debs, quiet: true })`apt-get download ${name}`;
      deb = (await fs.readdir(debs)).find((f: string) => f.startsWith(`${name}_`) && f.endsWith('.deb'));
      break;
    }
    if (!deb) throw new Error(`apt-get download linux-image-${release}(-unsigned) produced no .deb in ${debs} (run apt-get update?)`);
  }
  // The point of every guest: a kernel without its distribution's nbd, like a stock CentOS 7 one.
  return unpackKernelDeb(path.join(debs, deb), root, release);
}
