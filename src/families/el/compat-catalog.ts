/**
 * compat over an el family's catalog: each artifact's imported CRCs (its __versions) against the
 * Module.symvers of the catalog kernels of its point release, read from the kernel-devel RPMs the
 * builds already fetched. Shared by `nbdforge compat` and the yum channel's package descriptions.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { runTool } from '../../doors/exec.ts';
import { cachePath } from '../../fetch/index.ts';
import type { KernelEntry } from '../family.ts';
import { parseElf } from '../../verify/index.ts';
import { readVersions, parseModuleSymvers } from '../../verify/versions.ts';
import { compatRows, type CompatRow } from '../../verify/compat.ts';

/** An el catalog entry: its point release (7.9.2009) rides on the kernel entry. */
export const pointRelease = (k: KernelEntry): string | undefined => (k as { release?: string }).release;

/**
 * A kernel's Module.symvers, from the kernel-devel RPM in the download cache (extracted once and
 * kept under <cache>/<family>/derived/symvers/), or undefined when that RPM was never fetched.
 */
export async function catalogSymvers(cache: string, family: string, kernel: KernelEntry): Promise<Map<string, number> | undefined> {
  const text = await symversText(cache, family, kernel.kernelRelease, kernel.files.find((f) => f.role === 'devel')?.sha256);
  return text === undefined ? undefined : parseModuleSymvers(text, `Module.symvers of ${kernel.kernelRelease}`);
}

async function symversText(cache: string, family: string, kernelRelease: string, develSha?: string): Promise<string | undefined> {
  if (!/^[A-Za-z0-9._+-]+$/.test(kernelRelease) || kernelRelease.startsWith('.')) return undefined;
  const kept = path.join(cache, family, 'derived', 'symvers', kernelRelease);
  const had = await fs.readFile(kept, 'utf8').catch(() => undefined);
  if (had !== undefined) return had;
  if (!develSha) return undefined;
  const rpm = cachePath(cache, develSha);
  if (!(await fs.stat(rpm).catch(() => undefined))) return undefined;
  const r = await runTool('sh', ['-c', 'rpm2cpio "$1" | cpio -i --quiet --to-stdout "$2"', 'sh', rpm, `./usr/src/kernels/${kernelRelease}/Module.symvers`], { maxBuffer: 64 << 20 }).catch(() => undefined);
  if (r?.code !== 0 || !r.stdout) return undefined;
  await fs.mkdir(path.dirname(kept), { recursive: true });
  await fs.writeFile(kept, r.stdout);
  return r.stdout;
}

/**
 * One row per artifact (module file + the kernel it was built for), against KERNELS (the artifact's
 * own is skipped). Each kernel's symvers is read once.
 */
export async function catalogCompat(cache: string, family: string, kernels: KernelEntry[], artifacts: Array<{ kernelRelease: string; modulePath: string }>): Promise<CompatRow[]> {
  const inputs = [];
  for (const a of artifacts) inputs.push({ kernelRelease: a.kernelRelease, imports: readVersions(parseElf(new Uint8Array(await fs.readFile(a.modulePath)), path.basename(a.modulePath))) });
  const symvers = new Map<string, Map<string, number>>();
  for (const k of kernels) {
    const sv = await catalogSymvers(cache, family, k);
    if (sv) symvers.set(k.kernelRelease, sv);
  }
  return compatRows(inputs, kernels.map((k) => k.kernelRelease), (k) => symvers.get(k));
}
