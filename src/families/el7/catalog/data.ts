import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeFingerprint } from '../../../rpm-repo/signature.ts';

/** kernels/el7/releases.json, resolved: what the el7 family knows before it asks the vault anything. */
export interface El7Data {
  dir: string;
  defaultVault: string;
  /** Absolute path of the CentOS 7 public key. */
  keyFile: string;
  fingerprint: string;
  repos: Array<'os' | 'updates'>;
  binaryArch: string;
  releases: Array<{ release: string; baseKernel: string }>;
}

/** The kernels/el7 folder of this checkout or installed package. */
export function defaultEl7DataDir(): string {
  return fileURLToPath(new URL('../../../../kernels/el7/', import.meta.url));
}

export async function loadEl7Data(dir = defaultEl7DataDir()): Promise<El7Data> {
  const file = path.join(dir, 'releases.json');
  const j = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  const bad = (field: string): never => {
    throw new Error(`${file}: field "${field}" is missing or malformed`);
  };
  if (j.family !== 'el7') bad('family');
  const releases = Array.isArray(j.releases) ? (j.releases as El7Data['releases']) : bad('releases');
  for (const r of releases) if (!/^7\.\d+\.\d{4}$/.test(r?.release ?? '')) bad(`releases[${JSON.stringify(r?.release)}]`);
  const repos = Array.isArray(j.repos) && j.repos.every((r) => r === 'os' || r === 'updates') ? (j.repos as El7Data['repos']) : bad('repos');
  return {
    dir,
    defaultVault: typeof j.defaultVault === 'string' ? j.defaultVault : bad('defaultVault'),
    keyFile: path.resolve(dir, typeof j.keyFile === 'string' ? j.keyFile : bad('keyFile')),
    fingerprint: normalizeFingerprint(typeof j.fingerprint === 'string' ? j.fingerprint : bad('fingerprint')),
    repos,
    binaryArch: typeof j.binaryArch === 'string' ? j.binaryArch : bad('binaryArch'),
    releases,
  };
}
