import type { CatalogResult, KernelEntry, SourceFile } from '../family.ts';
import { compareDebVersions } from './deb-version.ts';
import { fill, loadLines, templateRegExp, type Lines } from './lines.ts';

export interface AptRecord {
  package: string;
  version: string;
  filename: string;
  size: number;
  sha256: string;
}

/** Parse `apt-cache show` output: RFC 822 stanzas; only the fields a download needs. */
export function parseAptRecords(text: string): AptRecord[] {
  const out: AptRecord[] = [];
  for (const stanza of text.replace(/\r\n/g, '\n').split(/\n\s*\n/)) {
    const f: Record<string, string> = {};
    for (const line of stanza.split('\n')) {
      const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
      if (m) f[m[1].toLowerCase()] = m[2].trim();
    }
    if (!f.package || !f.version || !f.filename || !f.sha256) continue;
    out.push({ package: f.package, version: f.version, filename: f.filename, size: Number(f.size ?? 0), sha256: f.sha256.toLowerCase() });
  }
  return out;
}

const basename = (p: string) => p.slice(p.lastIndexOf('/') + 1);

function file(role: string, r: AptRecord): SourceFile {
  return { role, name: r.package, version: r.version, filename: basename(r.filename), sha256: r.sha256, size: r.size };
}

/** A debian12 kernel: the catalog entry plus the line and flavour (from lines.json) it belongs to. */
export interface Debian12Kernel extends KernelEntry {
  line: string;
  flavour: string;
}

/**
 * Join apt records into buildable kernels, line by line and flavour by flavour as lines.json lists them.
 * The first package role (headers-common) names the ABIs; its newest version is the kernel's source
 * version. A flavour has a kernel for an ABI when the second role (its headers) exists at any version. A role whose rule is `exact` must exist at exactly that version (first of its name
 * templates that does); `same-or-newest` roles (kbuild and compiler packages the archive keeps few
 * of) take that version when present, else the newest.
 */
export function buildCatalog(records: AptRecord[], fetchedAt: string, data: Lines = loadLines()): CatalogResult {
  const by = new Map<string, AptRecord[]>();
  for (const r of records) {
    const list = by.get(r.package) ?? [];
    if (!list.some((x) => x.version === r.version)) list.push(r);
    by.set(r.package, list);
  }
  for (const list of by.values()) list.sort((a, b) => compareDebVersions(b.version, a.version));

  const kernels: Debian12Kernel[] = [];
  const skipped: CatalogResult['skipped'] = [];
  for (const line of data.lines) {
    const [anchorRole, ...roles] = Object.keys(line.packages);
    for (const fl of line.flavours) {
      const vars = { flavour: fl.flavour, common: fl.common };
      const anchor = line.packages[anchorRole].names.map((n) => templateRegExp(n, line.abi, vars));
      const found = new Map<string, AptRecord>();
      for (const [pkg, list] of by) {
        const abi = anchor.map((re) => re.exec(pkg)?.[1]).find((x) => x !== undefined);
        if (abi !== undefined && !found.has(abi)) found.set(abi, list[0]);
      }
      const abis = [...found].sort(([a, x], [b, y]) => compareDebVersions(x.version, y.version) || a.localeCompare(b));
      for (const [abi, common] of abis) {
        // A flavour the archive never built for this ABI (no headers at all) is not a kernel, not a skip.
        if (!line.packages[roles[0]].names.some((n) => by.has(fill(n, { ...vars, abi })))) continue;
        const v = common.version;
        const release = fill(line.release, { ...vars, abi });
        const files: SourceFile[] = [file(anchorRole, common)];
        const missing: string[] = [];
        for (const role of roles) {
          const rule = line.packages[role];
          const names = rule.names.map((n) => fill(n, { ...vars, abi }));
          const exact = names.map((n) => by.get(n)?.find((r) => r.version === v)).find(Boolean);
          const hit = exact ?? (rule.version === 'same-or-newest' ? names.map((n) => by.get(n)?.[0]).find(Boolean) : undefined);
          if (hit) files.push(file(role, hit));
          else missing.push(rule.version === 'exact' ? `${names.join(' or ')}=${v}` : names.join(' or '));
        }
        if (missing.length) {
          skipped.push({ kernelRelease: release, reason: `not in the archive: ${missing.join(', ')}` });
          continue;
        }
        kernels.push({ family: 'debian12', kernelRelease: release, sourceVersion: v, line: line.line, flavour: fl.flavour, files });
      }
    }
  }
  return { fetchedAt, kernels, skipped };
}
