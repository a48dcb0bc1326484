/**
 * The store's own names, and the validation of everything read back from an index: an index or a
 * manifest is untrusted input (a hand edit, a bad merge, a hostile http store), and its `dir` is
 * later joined to the store root, read and even removed. Only names of the layout pass:
 *   <family>/<kernelRelease>/<module>-<key12>[.<8 hex>]   (the suffix: a replacement written beside)
 */
import { NbdforgeError } from '../errors.ts';

/** One path segment nbdforge itself would write: no separators, no dot names, bounded. */
const SAFE = /^[A-Za-z0-9_+~][A-Za-z0-9._+~-]{0,127}$/;
const HEX64 = /^[0-9a-f]{64}$/;

export class StoreCorruptError extends NbdforgeError {
  override name = 'StoreCorruptError';
  /** prepare-host's contract: refused, nothing touched. */
  override readonly exitCode = 3;
}

export function isSafeName(s: unknown): s is string {
  return typeof s === 'string' && SAFE.test(s) && s !== '.' && s !== '..';
}

/** The artifact directory a manifest's key gets, relative to the store root. */
export function layoutDir(family: string, kernelRelease: string, module: string, key: string, suffix?: string): string {
  return `${family}/${kernelRelease}/${module}-${key.slice(0, 12)}${suffix ? `.${suffix}` : ''}`;
}

/** True when `dir` is exactly the layout's name for these fields (with or without a replacement suffix). */
export function isLayoutDir(dir: string, e: { family: string; kernelRelease: string; module: string; key: string }): boolean {
  const base = layoutDir(e.family, e.kernelRelease, e.module, e.key);
  return dir === base || (dir.startsWith(`${base}.`) && /^[0-9a-f]{8}$/.test(dir.slice(base.length + 1)));
}

/** One line of the store index: enough to pick an artifact without opening its manifest. */
export interface IndexEntry {
  key: string;
  family: string;
  kernelRelease: string;
  module: string;
  /** Directory of the artifact, relative to the store root (always a layout name, see above). */
  dir: string;
  file: string;
  sha256: string;
  vermagic: string;
  createdAt: string;
}

export interface StoreIndex {
  schema: 1;
  artifacts: IndexEntry[];
}

/**
 * Why JSON.parse failed, without the text it quotes: Node's messages carry a snippet of the input
 * ("Unexpected token 'r', \"root:$6$...\" is not valid JSON"), and the input may be a file planted
 * to be read (a symlink to /etc/shadow in a store being merged). Only the position is kept.
 */
export function jsonErrorWithoutContent(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  if (/Unexpected end of JSON input/.test(msg)) return 'it ends early: truncated?';
  const at = /at position (\d+)/.exec(msg);
  return at ? `invalid at byte ${at[1]}` : 'not valid JSON';
}

/** Parse an index's text, naming `where` and the first bad field; nothing unchecked gets through. */
export function parseIndex(text: string, where: string): StoreIndex {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new StoreCorruptError(`${where}: not JSON (${text.length === 0 ? 'empty file' : jsonErrorWithoutContent(err)})`);
  }
  return validateIndex(value, where);
}

/** Validate an already parsed index (an http store's body). */
export function validateIndex(value: unknown, where: string): StoreIndex {
  const idx = value as Record<string, unknown>;
  if (!idx || typeof idx !== 'object' || idx.schema !== 1 || !Array.isArray(idx.artifacts))
    throw new StoreCorruptError(`${where}: not a nbdforge store index (want {"schema": 1, "artifacts": [...]})`);
  const artifacts = (idx.artifacts as unknown[]).map((a, i) => parseEntry(a, `${where}: artifacts[${i}]`));
  return { schema: 1, artifacts };
}

export function parseEntry(value: unknown, where: string): IndexEntry {
  const e = value as Record<string, unknown>;
  const bad = (field: string, why: string): never => {
    throw new StoreCorruptError(`${where}: field "${field}" ${why}`);
  };
  if (!e || typeof e !== 'object' || Array.isArray(e)) bad('(entry)', 'is not an object');
  for (const f of ['family', 'kernelRelease', 'module', 'file'] as const) if (!isSafeName(e[f])) bad(f, 'must be a plain name (no "/", ".", "..", or empty)');
  for (const f of ['key', 'sha256'] as const) if (typeof e[f] !== 'string' || !HEX64.test(e[f] as string)) bad(f, 'must be a sha256 hex digest');
  for (const f of ['vermagic', 'createdAt'] as const) if (typeof e[f] !== 'string' || (e[f] as string).length > 512) bad(f, 'must be a string');
  const entry = e as unknown as IndexEntry;
  if (typeof e.dir !== 'string' || !isLayoutDir(e.dir, entry))
    bad('dir', `must be the store's own directory name ${layoutDir(entry.family, entry.kernelRelease, entry.module, entry.key)}, got ${JSON.stringify(e.dir)}`);
  if (entry.file === 'manifest.json') bad('file', 'must not be manifest.json');
  return {
    key: entry.key,
    family: entry.family,
    kernelRelease: entry.kernelRelease,
    module: entry.module,
    dir: entry.dir,
    file: entry.file,
    sha256: entry.sha256,
    vermagic: entry.vermagic,
    createdAt: entry.createdAt,
  };
}
