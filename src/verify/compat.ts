/**
 * kABI compatibility, ahead of time: which other kernels could load a module built for one kernel.
 * The kernel's loader checks every CRC a module imports (its __versions) against the running
 * kernel's exports (and ignores vermagic's release word when the module has CRCs), which is also
 * what RHEL's weak-modules and the nbdforge kernel hook compare before linking a module into
 * weak-updates/. Pure: the caller reads the module and each kernel's Module.symvers.
 */
import { hexCrc, type VersionEntry } from './versions.ts';

export interface CompatInput {
  kernelRelease: string;
  imports: VersionEntry[];
}

export interface CompatRow {
  /** The kernel the artifact was built for. */
  builtFor: string;
  imports: number;
  /** Other kernels whose every exported CRC matches the module's imports. */
  loads: string[];
  /** The first symbol that breaks each other kernel (file order of __versions). */
  breaks: Array<{ kernel: string; symbol: string; module: string; kernelCrc?: string }>;
  /** Kernels whose Module.symvers was not at hand. */
  unknown: string[];
}

export function compatRows(artifacts: CompatInput[], kernels: string[], symversOf: (kernel: string) => Map<string, number> | undefined): CompatRow[] {
  return artifacts.map((a) => {
    const row: CompatRow = { builtFor: a.kernelRelease, imports: a.imports.length, loads: [], breaks: [], unknown: [] };
    for (const k of kernels) {
      if (k === a.kernelRelease) continue;
      const sv = symversOf(k);
      if (!sv) {
        row.unknown.push(k);
        continue;
      }
      if (a.imports.length === 0) {
        row.breaks.push({ kernel: k, symbol: '(none)', module: 'built without modversions: no CRC evidence' });
        continue;
      }
      const bad = a.imports.find((i) => sv.get(i.name) !== i.crc);
      if (!bad) row.loads.push(k);
      else {
        const have = sv.get(bad.name);
        row.breaks.push({ kernel: k, symbol: bad.name, module: hexCrc(bad.crc), ...(have === undefined ? {} : { kernelCrc: hexCrc(have) }) });
      }
    }
    return row;
  });
}

export function renderCompat(rows: CompatRow[]): string {
  const out: string[] = [];
  for (const r of rows) {
    out.push(`${r.builtFor} (${r.imports} imported symbols)`);
    out.push(`  loads on: ${r.loads.length ? r.loads.join(', ') : 'no other kernel'}`);
    for (const b of r.breaks)
      out.push(`  not on ${b.kernel}: ${b.symbol} ${b.kernelCrc ? `has CRC ${b.kernelCrc} there, the module wants ${b.module}` : b.symbol === '(none)' ? b.module : `is not exported there (the module wants ${b.module})`}`);
    if (r.unknown.length) out.push(`  unknown (no Module.symvers at hand; fetch its kernel-devel with nbdforge build): ${r.unknown.join(', ')}`);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}
