/**
 * The fake family and the build outputs the builder's unit tests share (build-one.test.ts drives
 * buildOne through a fake Containers door, build-one-engine.test.ts through a fake Engine under the
 * real door): one kernel, a recipe that names its command, and the files a good build leaves in /out.
 */
import type { Family, KernelEntry, Recipe } from '../../src/families/family.ts';
import type { ModuleSpec } from '../../src/module-spec/module-spec.ts';
import { buildModule } from './fixtures-elf.ts';

export const K = '6.1.0-56-amd64';
const VERMAGIC = `${K} SMP preempt mod_unload modversions `;
const CONFIG = 'CONFIG_SMP=y\nCONFIG_PREEMPT=y\nCONFIG_MODULE_UNLOAD=y\nCONFIG_MODVERSIONS=y\n';
export const module: ModuleSpec = { name: 'nbd', sources: ['drivers/block/nbd.c'] } as ModuleSpec;

export const kernel: KernelEntry = { family: 'fake', kernelRelease: K, sourceVersion: '6.1.1-1', files: [{ role: 'headers', name: 'h', version: '1', filename: 'h.deb', sha256: 'a'.repeat(64), size: 1 }] };

/** A family of one kernel whose recipe builds in `contextDir` (a builder context the door may hash). */
export function fakeFamily(calls: string[], contextDir = '/nonexistent'): Family {
  return {
    name: 'fake',
    packageChannel: 'apt',
    async catalog() {
      calls.push('catalog');
      return { fetchedAt: 'now', kernels: [kernel], skipped: [] };
    },
    async ensureSources() {
      calls.push('sources');
      return {};
    },
    recipe(_ctx, k, m, opts): Recipe {
      calls.push(`recipe ${k.kernelRelease} rules=${opts.patchRules.length}`);
      return { image: { repo: 'fake/builder', contextDir, buildArgs: {}, baseImage: 'none' }, cmd: ['build'], env: { KREL: k.kernelRelease, MODULE: m.name }, binds: [], oracle: false, signFile: '/nonexistent/sign-file' };
    },
  } as Family;
}

/** What a good build leaves in /out: a real ELF module of the kernel's shape and its references. */
export const goodOutputs = (): Record<string, string | Uint8Array> => {
  const ko = buildModule({ vermagic: VERMAGIC, versions: [{ name: 'module_layout', crc: 0x1234 }] }).bytes;
  return { 'nbd.ko': ko, 'nbd.debug.ko': ko, 'kernel.config': CONFIG, 'Module.symvers': '0x00001234\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n', 'compiler.txt': 'gcc-12 (fake)\n', 'nbd.c': 'int x;\n' };
};
