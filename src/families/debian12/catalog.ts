import type { CatalogResult, KernelEntry, SourceFile } from '../family.ts';
import { compareDebVersions } from './deb-version.ts';

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

/**
 * Join apt records into buildable kernels: for each ABI N with linux-headers-6.1.0-N-{common,amd64},
 * the source version is the -common package's version; linux-source-6.1 and linux-image-6.1.0-N-amd64
 * must exist at exactly that version. kbuild and the compiler metapackage are not ABI-versioned and
 * the archive keeps few of them: the same version when present, else the newest.
 */
export function buildCatalog(records: AptRecord[], fetchedAt: string): CatalogResult {
  const by = new Map<string, AptRecord[]>();
  for (const r of records) {
    const list = by.get(r.package) ?? [];
    if (!list.some((x) => x.version === r.version)) list.push(r);
    by.set(r.package, list);
  }
  for (const list of by.values()) list.sort((a, b) => compareDebVersions(b.version, a.version));
  const exact = (pkg: string, v: string) => by.get(pkg)?.find((r) => r.version === v);
  const sameOrNewest = (pkg: string, v: string) => exact(pkg, v) ?? by.get(pkg)?.[0];

  const kernels: KernelEntry[] = [];
  const skipped: CatalogResult['skipped'] = [];
  const abis = [...by.keys()]
    .map((p) => /^linux-headers-6\.1\.0-(\d+)-common$/.exec(p)?.[1])
    .filter((x): x is string => !!x)
    .sort((a, b) => Number(a) - Number(b));
  for (const abi of abis) {
    const krel = `6.1.0-${abi}-amd64`;
    const common = by.get(`linux-headers-6.1.0-${abi}-common`)![0];
    const v = common.version;
    const flavour = exact(`linux-headers-${krel}`, v);
    const source = exact('linux-source-6.1', v);
    const image = exact(`linux-image-${krel}`, v);
    const kbuild = sameOrNewest('linux-kbuild-6.1', v);
    const compiler = sameOrNewest('linux-compiler-gcc-12-x86', v);
    const missing = [
      !flavour && `linux-headers-${krel}=${v}`,
      !source && `linux-source-6.1=${v}`,
      !image && `linux-image-${krel}=${v}`,
      !kbuild && 'linux-kbuild-6.1',
      !compiler && 'linux-compiler-gcc-12-x86',
    ].filter(Boolean);
    if (missing.length) {
      skipped.push({ kernelRelease: krel, reason: `not in the archive: ${missing.join(', ')}` });
      continue;
    }
    kernels.push({
      family: 'debian12',
      kernelRelease: krel,
      sourceVersion: v,
      files: [
        file('headers-common', common),
        file('headers', flavour!),
        file('kbuild', kbuild!),
        file('compiler', compiler!),
        file('source', source!),
        file('image', image!),
      ],
    });
  }
  return { fetchedAt, kernels, skipped };
}
