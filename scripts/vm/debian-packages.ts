/**
 * Real Debian packages for guests and chroots that install kernels the way a host does: the host's
 * bookworm mirror (read from its apt configuration, never hard-coded), a linux-image .deb repacked
 * without its own nbd.ko (the stand-in for a kernel that lacks nbd, like stock CentOS 7; maintainer
 * scripts untouched), and a tiny package that provides linux-initramfs-tool (linux-image depends on
 * initramfs-tools | linux-initramfs-tool; the guests boot with a harness-made initramfs).
 */
import { $, fs, path } from 'zx';
import { parseDeb822Sources, parseOneLineSources, releaseMirror, type AptSource } from '../../src/setup/apt-sources.ts';
import { ensureKernel } from './kernels.ts';

export async function hostAptSources(): Promise<AptSource[]> {
  const dir = '/etc/apt/sources.list.d';
  const sources: AptSource[] = [];
  for (const f of (await fs.readdir(dir).catch(() => [] as string[])).sort()) {
    const text = await fs.readFile(path.join(dir, f), 'utf8');
    if (f.endsWith('.sources')) sources.push(...parseDeb822Sources(text));
    else if (f.endsWith('.list')) sources.push(...parseOneLineSources(text));
  }
  if (await fs.pathExists('/etc/apt/sources.list')) sources.push(...parseOneLineSources(await fs.readFile('/etc/apt/sources.list', 'utf8')));
  return sources;
}

/** The mirror debootstrap uses for bookworm, from this machine's apt configuration. */
export async function hostMirror(): Promise<string> {
  return releaseMirror(await hostAptSources(), 'bookworm');
}

/** The cached linux-image-<release> .deb (downloaded by ensureKernel into <cacheDir>/debs). */
export async function stockKernelDeb(release: string, cacheDir: string): Promise<string> {
  await ensureKernel(release, cacheDir);
  const debs = path.join(cacheDir, 'debs');
  const name = (await fs.readdir(debs)).find((f: string) => f.startsWith(`linux-image-${release}_`) && f.endsWith('.deb'));
  if (!name) throw new Error(`no linux-image-${release}_*.deb in ${debs}`);
  return path.join(debs, name);
}

/**
 * linux-image-<release> without kernel/drivers/block/nbd.ko (and its md5sums line), everything else
 * as shipped, written uncompressed to OUT (quicker to install under TCG than to decompress).
 */
export async function repackWithoutNbd(release: string, cacheDir: string, out: string): Promise<void> {
  const stock = await stockKernelDeb(release, cacheDir);
  const x = `${out}.d`;
  await fs.remove(x);
  await $({ quiet: true })`dpkg-deb -R ${stock} ${x}`;
  await fs.remove(path.join(x, 'lib/modules', release, 'kernel/drivers/block/nbd.ko'));
  const sums = path.join(x, 'DEBIAN/md5sums');
  await fs.writeFile(sums, (await fs.readFile(sums, 'utf8')).split('\n').filter((l: string) => !l.endsWith('/nbd.ko')).join('\n'));
  await $({ quiet: true })`dpkg-deb -Znone -b ${x} ${out}`;
  await fs.remove(x);
}

/** A package that provides linux-initramfs-tool and does nothing, written to OUT. */
export async function fakeInitramfsDeb(out: string): Promise<void> {
  const dir = `${out}.d`;
  await fs.mkdirp(path.join(dir, 'DEBIAN'));
  await fs.writeFile(
    path.join(dir, 'DEBIAN/control'),
    'Package: nbdforge-test-initramfs\nVersion: 1\nArchitecture: all\nMaintainer: nbdforge tests <t@nbdforge.invalid>\nProvides: linux-initramfs-tool\nDescription: stands in for initramfs-tools in a test root\n',
  );
  await $({ quiet: true })`dpkg-deb -b ${dir} ${out}`;
  await fs.remove(dir);
}
