/**
 * A small initramfs for test guests: busybox-static for the basics, dash as /bin/sh, and real host
 * binaries (kmod, qemu-nbd, ...) copied with every library ldd lists. Kernel modules are the
 * dependency closure of the ones asked for, taken from the guest kernel's tree (which has no
 * nbd.ko). Uncompressed cpio: under TCG the kernel unpacks it faster than it would gunzip it.
 * Cached by a key over every input, so a rebuild happens only when something changed.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { run, runTool, shell, SLOW_TOOL_MS } from '../doors/exec.ts';
import { withFileLock } from '../util/file-lock.ts';
import { createHash } from 'node:crypto';
import type { GuestKernel } from './kernel.ts';

export interface InitramfsSpec {
  kernel: GuestKernel;
  /** Modules to include with their dependencies (never nbd: the guests exist to install it). */
  modules: string[];
  /** Absolute host paths of extra binaries (their libraries come along). */
  tools?: string[];
  /**
   * Files put at fixed guest paths after the tools, replacing a tool or busybox applet of the same
   * name (guest path -> host file; static binaries or scripts: no libraries come along). The el7
   * guests put CentOS 7.9's static userland and the qemu 1.5.3 stand-in here (scripts/vm/el7-guest.ts).
   */
  overlay?: Record<string, string>;
  /** Guest path of the binary /bin/sh links to (default /usr/bin/dash, Debian's sh). */
  sh?: string;
  /** Symbolic links made last (guest path -> target). */
  links?: Record<string, string>;
  /**
   * Without the 9p share's modules (virtio_pci, 9p, 9pnet_virtio): for guests whose files come in a
   * second archive appended to this one (prove: Debian's cloud kernels have no 9p at all).
   */
  no9p?: boolean;
  /** The /init script (default guest-init.sh: run one script from the share, power off). */
  init?: URL;
  cacheDir: string;
}

/** fs-extra's pathExists, copy (of a file, its directory made) and remove, in node's own fs. */
const exists = (p: string) => fs.access(p).then(() => true, () => false);
const mkdirp = (p: string) => fs.mkdir(p, { recursive: true });
const copyInto = async (src: string, dest: string) => {
  await mkdirp(path.dirname(dest));
  await fs.copyFile(src, dest);
};

/** Always present: what prepare-host's emitted script and the harness need. */
const BASE_TOOLS = ['/usr/bin/dash', '/usr/bin/kmod', '/usr/bin/qemu-nbd'];
const KMOD_LINKS = ['modprobe', 'insmod', 'rmmod', 'lsmod', 'depmod', 'modinfo'];
export const BASE_MODULES = ['virtio_pci', '9p', '9pnet_virtio'];
const INIT = new URL('./guest-init.sh', import.meta.url);

export async function buildInitramfs(spec: InitramfsSpec): Promise<string> {
  if (spec.modules.some((m) => m === 'nbd')) throw new Error('the guest initramfs never carries nbd.ko');
  const tools = [...new Set([...BASE_TOOLS, ...(spec.tools ?? [])])];
  const modules = [...new Set([...(spec.no9p ? [] : BASE_MODULES), ...spec.modules])];
  const init = await fs.readFile(spec.init ?? INIT, 'utf8');
  const overlay = Object.entries(spec.overlay ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [dest] of overlay) if (!path.isAbsolute(dest) || dest.split('/').includes('..')) throw new Error(`overlay path must be absolute, without ..: ${dest}`);
  const sh = spec.sh ?? '/usr/bin/dash';
  const stampOf = async (t: string) => `${t}:${(await fs.stat(t)).size}:${(await fs.stat(t)).mtimeMs}`;
  const stamp = await Promise.all([...tools, '/bin/busybox'].map(stampOf));
  const links = Object.entries(spec.links ?? {}).sort(([a], [b]) => a.localeCompare(b));
  for (const [at] of links) if (!path.isAbsolute(at) || at.split('/').includes('..')) throw new Error(`link path must be absolute, without ..: ${at}`);
  const over = [...(await Promise.all(overlay.map(async ([dest, src]) => `${dest}<-${await stampOf(src)}`))), ...links.map(([at, to]) => `${at}->${to}`)];
  const key = createHash('sha256').update(JSON.stringify({ v: 1, release: spec.kernel.release, modules, stamp, init, ...(over.length || spec.sh ? { over, sh } : {}) })).digest('hex').slice(0, 16);
  const out = path.join(spec.cacheDir, 'initramfs', `${spec.kernel.release}-${key}.cpio`);
  if (await exists(out)) return out;
  // Concurrent builds of one initramfs (parallel boots of one kernel) share one result.
  let p = building.get(out);
  if (!p) {
    p = withFileLock(`${out}.lock`, async () => ((await exists(out)) ? out : assemble(spec, out, tools, modules, init, overlay, sh, links))).finally(() => building.delete(out));
    building.set(out, p);
  }
  return p;
}

const building = new Map<string, Promise<string>>();

async function assemble(spec: InitramfsSpec, out: string, tools: string[], modules: string[], init: string, overlay: Array<[string, string]>, sh: string, links: Array<[string, string]>): Promise<string> {
  await mkdirp(path.dirname(out));
  const root = await fs.mkdtemp(`${out}.d-`);
  // mkdtemp makes 0700 and this directory becomes the guest's /: unprivileged users must traverse it.
  await fs.chmod(root, 0o755);
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'lib', 'lib64', 'etc', 'proc', 'sys', 'dev', 'run', 'tmp', 'root', 'share', 'var'])
    await mkdirp(path.join(root, d));
  await fs.symlink('../run/lock', path.join(root, 'var/lock')); // qemu-nbd --connect puts its socket there
  for (const t of tools) await copyWithLibs(t, root);
  for (const [dest, src] of overlay) {
    await mkdirp(path.join(root, path.dirname(dest)));
    await fs.copyFile(src, path.join(root, dest));
    await fs.chmod(path.join(root, dest), 0o755);
  }
  for (const l of KMOD_LINKS) await fs.symlink('../bin/kmod', path.join(root, 'usr/sbin', l));
  await fs.symlink('../usr/bin/kmod', path.join(root, 'sbin/modprobe')); // the kernel's request_module helper
  await copyInto('/bin/busybox', path.join(root, 'bin/busybox'));
  await fs.symlink(path.relative('/bin', sh), path.join(root, 'bin/sh'));
  const taken = new Set([...KMOD_LINKS, 'sh', ...tools.map((t) => path.basename(t)), ...overlay.map(([d]) => path.basename(d))]);
  for (const a of (await run('/bin/busybox', ['--list'])).stdout.split('\n').filter(Boolean))
    if (!taken.has(a) && !(await exists(path.join(root, 'bin', a)))) await fs.symlink('busybox', path.join(root, 'bin', a));
  await fs.writeFile(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await fs.writeFile(path.join(root, 'etc/group'), 'root:x:0:\n');
  await fs.symlink('/proc/self/mounts', path.join(root, 'etc/mtab'));
  await fs.writeFile(path.join(root, 'init'), init, { mode: 0o755 });
  for (const [at, to] of links) {
    await mkdirp(path.join(root, path.dirname(at)));
    await fs.symlink(to, path.join(root, at));
  }

  // modules: closure from the guest tree, then depmod for the initramfs tree
  const k = spec.kernel;
  const files = new Set<string>();
  for (const m of modules) {
    const deps = (await run('modprobe', ['-d', k.root, '-S', k.release, '--show-depends', m])).stdout;
    for (const line of deps.split('\n')) {
      const f = /^insmod (\S+)/.exec(line.trim())?.[1];
      if (f) files.add(f);
    }
  }
  const relDir = path.join('lib/modules', k.release);
  for (const f of files) await copyInto(f, path.join(root, path.relative(k.root, f)));
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) await copyInto(path.join(k.moduleDir, f), path.join(root, relDir, f));
  await run('depmod', ['-b', root, k.release], { timeoutMs: SLOW_TOOL_MS });

  await mkdirp(path.dirname(out));
  await shell({ cwd: root })`find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet > ${root}.cpio`;
  await fs.rename(`${root}.cpio`, out);
  await fs.rm(root, { recursive: true, force: true });
  return out;
}

/** Copy a binary to the same path in the tree, with every library ldd names (and the loader). */
async function copyWithLibs(bin: string, root: string): Promise<void> {
  const real = await fs.realpath(bin);
  const paths = new Set<string>([bin]);
  const ldd = (await runTool('ldd', [real]).catch(() => ({ stdout: '' }))).stdout;
  for (const line of ldd.split('\n')) {
    const m = /=>\s+(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) paths.add(m[1]);
  }
  for (const p of paths) {
    // Debian's /lib is a symlink to usr/lib: keep the path as ldd spells it, as a real file in the tree.
    const dest = path.join(root, p);
    if (await exists(dest)) continue;
    await mkdirp(path.dirname(dest));
    await fs.copyFile(await fs.realpath(p), dest);
    await fs.chmod(dest, 0o755);
  }
}
