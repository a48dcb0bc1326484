/**
 * The published directory's index.json: the store index's fields (so `prepare-host --from URL` reads
 * it as a store) plus what a host needs to fetch and check each file. Written one artifact per line
 * so that install.sh, which has only sh, grep and sed, can take its kernel's line apart after the
 * signature over the whole file was verified.
 *
 *   <dir>/index.json, index.json.sig, signing-key.gpg, install.sh, SHA256SUMS
 *   <dir>/<family>/<release>/<module>-<key12>/{<module>.ko, manifest.json, prepare-host.sh[, proof.json]}
 */
import type { IndexEntry } from '../../artifacts/dir-store.ts';
import { NbdforgeError } from '../../errors.ts';

export interface DirIndexEntry extends IndexEntry {
  /** <dir>/<file>: the module, relative to the published root. */
  path: string;
  size: number;
  manifestSha256: string;
  /** prepare-host's plan for this kernel as a POSIX script that takes the module from a file. */
  plan: string;
  planSha256: string;
  /** When the artifact was proven in its own kernel: <dir>/proof.json, its sha256 and the day of the verdict (what install.sh prints). */
  proof?: string;
  proofSha256?: string;
  proofDate?: string;
}

export interface DirIndex {
  schema: 1;
  format: 'nbdforge-dir';
  generator: string;
  generatedAt: string;
  /**
   * Rollback protection: grows with every publish (at least the publish time in Unix seconds);
   * hosts remember the highest they accepted per source and refuse a lower one.
   */
  serial?: number;
  /** The index is not to be believed after this (ISO), also as Unix seconds for install.sh's sh. */
  validUntil?: string;
  expires?: number;
  artifacts: DirIndexEntry[];
}

export const INDEX = 'index.json';
export const INDEX_SIG = 'index.json.sig';
export const SIGNING_KEY = 'signing-key.gpg';
export const INSTALL = 'install.sh';
export const SUMS = 'SHA256SUMS';
export const PLAN = 'prepare-host.sh';
export const MAX_INDEX_BYTES = 16 * 1024 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;
/** What install.sh accepts in a path or release: no spaces, quotes, '..' or leading '/'. */
const SAFE = /^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/;
const SAFE_TEXT = /^[A-Za-z0-9._+ -]+$/;

export function renderIndex(idx: DirIndex): string {
  const head = JSON.stringify({ schema: idx.schema, format: idx.format, generator: idx.generator, generatedAt: idx.generatedAt, serial: idx.serial, validUntil: idx.validUntil, expires: idx.expires });
  const lines = idx.artifacts.map((a) => JSON.stringify(a));
  return `${head.slice(0, -1)},"artifacts":[\n${lines.join(',\n')}\n]}\n`;
}

export class DirIndexError extends NbdforgeError {
  override name = 'DirIndexError';
}

/** Validate an index.json read from disk or the network, naming the first bad field. */
export function parseIndex(text: string, where: string): DirIndex {
  let v: DirIndex;
  try {
    v = JSON.parse(text) as DirIndex;
  } catch (err) {
    throw new DirIndexError(`${where}: not JSON (${(err as Error).message})`);
  }
  if (v?.schema !== 1 || v.format !== 'nbdforge-dir' || !Array.isArray(v.artifacts)) throw new DirIndexError(`${where}: not a nbdforge published directory index`);
  v.artifacts.forEach((a, i) => checkEntry(a, `${where}: artifacts[${i}]`));
  for (const f of ['serial', 'expires'] as const) if (v[f] !== undefined && !(Number.isSafeInteger(v[f]) && v[f]! >= 0)) throw new DirIndexError(`${where}: bad field "${f}"`);
  return v;
}

export function checkEntry(a: DirIndexEntry, where: string): void {
  const bad = (f: string) => {
    throw new DirIndexError(`${where}: bad field "${f}"`);
  };
  for (const f of ['kernelRelease', 'module', 'family', 'file'] as const) if (typeof a[f] !== 'string' || !/^[A-Za-z0-9._+-]+$/.test(a[f])) bad(f);
  for (const f of ['dir', 'path', 'plan'] as const) if (typeof a[f] !== 'string' || !SAFE.test(a[f]) || a[f].split('/').some((s) => s === '..' || s === '.')) bad(f);
  for (const f of ['key', 'sha256', 'manifestSha256', 'planSha256'] as const) if (typeof a[f] !== 'string' || !HEX64.test(a[f])) bad(f);
  if (typeof a.vermagic !== 'string' || !SAFE_TEXT.test(a.vermagic)) bad('vermagic');
  if (!Number.isSafeInteger(a.size) || a.size <= 0) bad('size');
  if (a.path !== `${a.dir}/${a.file}`) bad('path');
  if (a.proof !== undefined || a.proofSha256 !== undefined || a.proofDate !== undefined) {
    if (a.proof !== `${a.dir}/proof.json`) bad('proof');
    if (typeof a.proofSha256 !== 'string' || !HEX64.test(a.proofSha256)) bad('proofSha256');
    if (typeof a.proofDate !== 'string' || !/^\d{4}-\d\d-\d\d$/.test(a.proofDate)) bad('proofDate');
  }
}
