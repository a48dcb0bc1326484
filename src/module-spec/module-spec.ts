import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** A module nbdforge can build: read from kernels/modules/<name>.json. */
export interface ModuleSpec {
  name: string;
  description: string;
  /** The Kconfig symbol a distribution leaves unset. */
  kconfig: string;
  /** Paths inside the kernel tree, all in one directory (the in-tree build's directory). */
  sources: string[];
  /** Ids of patch rules in kernels/patches/ that may apply to this module. */
  patchRules: string[];
}

export const KERNELS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../kernels');

export async function loadModuleSpec(name: string, dir = path.join(KERNELS_DIR, 'modules')): Promise<ModuleSpec> {
  const file = path.join(dir, `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(await fs.readFile(file, 'utf8'));
  } catch (err) {
    const known = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    throw new Error(`no module spec "${name}" (${file}); known: ${known.join(', ') || 'none'}`, { cause: err });
  }
  return validateModuleSpec(raw, file);
}

export function validateModuleSpec(raw: unknown, where: string): ModuleSpec {
  const m = raw as Partial<ModuleSpec>;
  const bad = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  if (!m || typeof m !== 'object') bad('not an object');
  if (typeof m.name !== 'string' || !/^[a-z0-9_-]+$/.test(m.name)) bad('"name" must be a module name');
  if (typeof m.kconfig !== 'string' || !m.kconfig.startsWith('CONFIG_')) bad('"kconfig" must be a CONFIG_ symbol');
  if (!Array.isArray(m.sources) || m.sources.length === 0) bad('"sources" must list at least one file');
  for (const s of m.sources!) {
    if (typeof s !== 'string' || s.startsWith('/') || s.split('/').includes('..') || !s.endsWith('.c')) bad(`bad source path "${s}"`);
  }
  const dirs = new Set(m.sources!.map((s) => path.posix.dirname(s)));
  if (dirs.size !== 1) bad('"sources" must all live in one directory');
  return {
    name: m.name!,
    description: m.description ?? '',
    kconfig: m.kconfig!,
    sources: m.sources!,
    patchRules: Array.isArray(m.patchRules) ? m.patchRules : [],
  };
}
