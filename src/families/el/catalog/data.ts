import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeFingerprint } from '../../../doors/gpg.ts';

/**
 * kernels/<family>/releases.json of an RPM ("el") family, resolved: what the family knows before it
 * asks the vault anything. Everything that differs between el releases is here, not in code: the
 * point releases and how they are spelled, the repositories, where a repository lives under the
 * vault, the package names, the key.
 */
export interface ElData {
  /** The family's name: its folder under kernels/ and containers/ (el7). */
  family: string;
  dir: string;
  defaultVault: string;
  /** Absolute path of the family's public key. */
  keyFile: string;
  fingerprint: string;
  /** What a point release looks like (el7: 7.9.2009). */
  releasePattern: RegExp;
  repos: string[];
  binaryArch: string;
  /** A repository under the vault, with {release} {repo} {arch}: the binary one, and the sources. */
  layout: { binary: string; source: string };
  /**
   * The kernel's source package (its SRPM is NAME-V-R.src.rpm), the devel package built with it, and
   * the binary kernel package `prove` boots (default: the source package's name, as el7 names both).
   */
  packages: { source: string; devel: string; kernel: string };
  releases: Array<{ release: string; baseKernel: string }>;
}

/** kernels/<family>/ of this checkout or installed package. */
export function familyDataDir(family: string): string {
  if (!/^[a-z][a-z0-9]*$/.test(family)) throw new Error(`not a family name: ${JSON.stringify(family)}`);
  return fileURLToPath(new URL(`../../../../kernels/${family}/`, import.meta.url));
}

/** A repository path: relative, templated by {release} {repo} {arch} only. */
function template(v: unknown): string | undefined {
  if (typeof v !== 'string' || v.startsWith('/') || v.split('/').includes('..')) return undefined;
  return v.replace(/\{(release|repo|arch)\}/g, '').includes('{') ? undefined : v;
}

function elPackages(p: Record<string, unknown> | undefined, token: (v: unknown) => boolean, bad: (field: string) => never): ElData['packages'] {
  const source = token(p?.source) ? (p!.source as string) : bad('packages.source');
  const devel = token(p?.devel) ? (p!.devel as string) : bad('packages.devel');
  if (p?.kernel !== undefined && !token(p.kernel)) bad('packages.kernel');
  return { source, devel, kernel: (p?.kernel as string | undefined) ?? source };
}

/** DIR/releases.json of FAMILY (a site's own copy of the folder may have any name; the file names its family). */
export async function loadElData(dir: string, family: string): Promise<ElData> {
  const file = path.join(dir, 'releases.json');
  const j = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new Error(`${file}: field "${field}" is missing or malformed`);
  };
  if (j.family !== family) bad(`family (expected ${JSON.stringify(family)})`);
  let releasePattern: RegExp;
  try {
    releasePattern = new RegExp(typeof j.releasePattern === 'string' ? j.releasePattern : bad('releasePattern'));
  } catch {
    return bad('releasePattern');
  }
  const releases = Array.isArray(j.releases) ? (j.releases as ElData['releases']) : bad('releases');
  for (const r of releases) if (!releasePattern.test(r?.release ?? '')) bad(`releases[${JSON.stringify(r?.release)}]`);
  const token = (v: unknown) => typeof v === 'string' && /^[A-Za-z][\w.-]*$/.test(v);
  const repos = Array.isArray(j.repos) && j.repos.length && j.repos.every(token) ? (j.repos as string[]) : bad('repos');
  const layout = j.layout as Record<string, unknown> | undefined;
  const packages = j.packages as Record<string, unknown> | undefined;
  return {
    family,
    dir,
    defaultVault: typeof j.defaultVault === 'string' ? j.defaultVault : bad('defaultVault'),
    keyFile: path.resolve(dir, typeof j.keyFile === 'string' ? j.keyFile : bad('keyFile')),
    fingerprint: normalizeFingerprint(typeof j.fingerprint === 'string' ? j.fingerprint : bad('fingerprint')),
    releasePattern,
    repos,
    binaryArch: token(j.binaryArch) ? (j.binaryArch as string) : bad('binaryArch'),
    layout: { binary: template(layout?.binary) ?? bad('layout.binary'), source: template(layout?.source) ?? bad('layout.source') },
    packages: elPackages(packages, token, bad),
    releases,
  };
}
