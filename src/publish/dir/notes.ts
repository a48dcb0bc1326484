import fs from 'node:fs';
import path from 'node:path';
import { sha256 } from '../../util/hash.ts';
import { INDEX, MAX_INDEX_BYTES } from './layout.ts';

export interface DirNotesInput {
  root: string;
  baseUrl?: string;
  fingerprint?: string;
  written?: { serial: number; validUntil: string };
  /** What --prune-foreign moved aside or dropped. */
  moved: string[];
}

/**
 * What a dir publish tells people after it: how hosts install from it, as commands to copy. Unsigned,
 * hosts pin the index by its sha256, so the commands carry that hash, filled in.
 */
export function dirNotes(o: DirNotesInput): string[] {
  const url = o.baseUrl ?? 'URL';
  const pin = o.fingerprint ? undefined : indexSha256(o.root);
  const args = [...(o.baseUrl ? [] : ['--from', url]), ...(pin ? ['--index-sha256', pin] : [])];
  const trust = o.fingerprint ? `--fingerprint ${o.fingerprint}` : `--index-sha256 ${pin ?? 'HEX'}`;
  return [
    o.fingerprint
      ? `index.json signed by ${o.fingerprint} (install.sh pins it)`
      : pin
        ? `index.json is NOT signed (--unsigned): hosts pin it by its sha256, ${pin} (it changes at every publish)`
        : 'index.json is NOT signed (--unsigned): hosts must pass --index-sha256 or opt out',
    `hosts: curl -fsSL ${url}/install.sh | sh${args.length ? ` -s -- ${args.join(' ')}` : ''}`,
    `   or: nbdforge prepare-host --from ${url} ${trust}`,
    ...(o.written ? [`index.json serial ${o.written.serial}, valid until ${o.written.validUntil}: publish again before then (hosts refuse an expired or older index)`] : []),
    ...o.moved,
    'SHA256SUMS is not signed: it only catches a damaged copy, never a changed one (the signed index.json does)',
  ];
}

/** The sha256 of the index.json the target holds now (undefined when there is none, or it is not a small file). */
function indexSha256(root: string): string | undefined {
  try {
    const file = path.join(root, INDEX);
    const st = fs.lstatSync(file);
    return st.isFile() && st.size <= MAX_INDEX_BYTES ? sha256(fs.readFileSync(file)) : undefined;
  } catch {
    return undefined;
  }
}
