/**
 * What goes into a KMM image besides the module: a static busybox (KMM's init container runs
 * `/bin/sh -c "mkdir -p ...; cp -R ..."`, so FROM scratch cannot work) and the index files
 * `depmod -b /opt <v>` writes (the worker's `modprobe -d /opt` finds nothing without modules.dep).
 * depmod is the host's own kmod: real depmod output, never a hand-written imitation.
 */
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { isNotFound, runTool } from '../../doors/exec.ts';
import { RegistryError } from './errors.ts';
import type { LayerEntry } from './layer.ts';

const MAX_BUSYBOX = 16 << 20;
/** The applets KMM's worker and init container call. */
export const APPLETS = ['sh', 'mkdir', 'cp'];

export interface Busybox {
  path: string;
  data: Buffer;
  machine: number;
}

/** Find a static busybox (NBDFORGE_BUSYBOX, else Debian's busybox-static at /bin/busybox). */
export async function findBusybox(env: NodeJS.ProcessEnv): Promise<Busybox> {
  const candidates = env.NBDFORGE_BUSYBOX ? [env.NBDFORGE_BUSYBOX] : ['/bin/busybox', '/usr/bin/busybox'];
  for (const p of candidates) {
    let data: Buffer;
    try {
      if ((await fs.stat(p)).size > MAX_BUSYBOX) throw new RegistryError(`${p}: larger than ${MAX_BUSYBOX} bytes, not a busybox`);
      data = await fs.readFile(p);
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      continue;
    }
    const elf = programHeaders(data, p);
    // A dynamic busybox would need its libc in the image too: the image holds nothing else.
    if (elf.dynamic)
      throw new RegistryError(`${p} is dynamically linked; install busybox-static (apt-get install busybox-static) or point NBDFORGE_BUSYBOX at a static one`);
    return { path: p, data, machine: elf.machine };
  }
  throw new RegistryError(`no static busybox at ${candidates.join(' or ')}: apt-get install busybox-static (or npx tsx scripts/setup-host.ts --with oci)`);
}

/**
 * An executable's ELF header and program headers (src/verify reads only relocatable modules):
 * enough to tell the machine and whether it asks for an interpreter or dynamic linking.
 */
export function programHeaders(buf: Buffer, label: string): { machine: number; dynamic: boolean } {
  const fail = (why: string): never => {
    throw new RegistryError(`${label}: ${why}`);
  };
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) fail('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) fail('not a 64-bit little-endian ELF file');
  const machine = buf.readUInt16LE(18);
  const phoff = Number(buf.readBigUInt64LE(32));
  const phentsize = buf.readUInt16LE(54);
  const phnum = buf.readUInt16LE(56);
  if (phentsize < 56 || phoff + phentsize * phnum > buf.length) fail('program headers beyond the end of the file');
  let dynamic = false;
  for (let i = 0; i < phnum; i++) {
    const type = buf.readUInt32LE(phoff + i * phentsize);
    if (type === 2 || type === 3) dynamic = true; // PT_DYNAMIC, PT_INTERP
  }
  return { machine, dynamic };
}

export function busyboxEntries(bb: Busybox): LayerEntry[] {
  return [{ path: 'bin/busybox', type: 'file', data: bb.data, mode: 0o755 }, ...APPLETS.map((a): LayerEntry => ({ path: `bin/${a}`, type: 'symlink', target: 'busybox' }))];
}

/**
 * The module tree under opt/: the module at lib/modules/<v>/extra/<name>.ko plus every file
 * `depmod -b <tmp> <v>` wrote beside it (modules.dep, .alias, .symbols and their .bin forms).
 */
export async function moduleTreeEntries(kernelRelease: string, moduleName: string, ko: Buffer, depmod = 'depmod'): Promise<LayerEntry[]> {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-depmod-'));
  try {
    const rel = path.join('lib/modules', kernelRelease);
    await fs.mkdir(path.join(tmp, rel, 'extra'), { recursive: true });
    await fs.writeFile(path.join(tmp, rel, 'extra', `${moduleName}.ko`), ko);
    const r = await runTool(depmod, ['-b', tmp, kernelRelease], { timeoutMs: 60_000 }).catch((err: Error) => {
      if (isNotFound(err)) throw new RegistryError(`depmod not found: apt-get install kmod (it writes the modules.dep KMM's modprobe needs)`);
      throw new RegistryError(`depmod -b ${tmp} ${kernelRelease} failed: ${err.message}`);
    });
    if (r.code !== 0) throw new RegistryError(`depmod -b ${tmp} ${kernelRelease} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
    const out: LayerEntry[] = [{ path: `opt/${rel}/extra/${moduleName}.ko`, type: 'file', data: ko }];
    for (const f of (await fs.readdir(path.join(tmp, rel))).sort()) {
      if (f === 'extra') continue;
      out.push({ path: `opt/${rel}/${f}`, type: 'file', data: await fs.readFile(path.join(tmp, rel, f)) });
    }
    if (!out.some((e) => e.path.endsWith('/modules.dep'))) throw new RegistryError(`depmod -b ${tmp} ${kernelRelease} wrote no modules.dep`);
    return out;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}
