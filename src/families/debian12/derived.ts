import path from 'node:path';
import type { KernelEntry, SourceFile } from '../family.ts';
import type { ModuleSpec } from '../../module-spec/module-spec.ts';
import type { Line } from './lines.ts';
import { sha256 } from '../../util/hash.ts';

/** What debian12 derives from its packages into the cache, and how fetch.sh is told to derive it. */
export const HEADER_ROLES = ['headers-common', 'headers', 'kbuild'];

export function headersKey(kernel: KernelEntry): string {
  return sha256(HEADER_ROLES.map((r) => kernel.files.find((f) => f.role === r)!.sha256).join('\n'));
}

/** Where build.sh leaves what it derives from each deb (see containers/debian12/build.sh). */
export function derivedPaths(dir: string, kernel: KernelEntry): Record<string, string> {
  const of = (role: string) => kernel.files.find((f) => f.role === role)!;
  const kb = path.join(dir, `kbuild-${headersKey(kernel)}`);
  return {
    'headers-common': kb,
    headers: kb,
    kbuild: kb,
    source: path.join(dir, `src-${of('source').sha256}`),
    image: path.join(dir, `oracle-${of('image').sha256}.ko`),
  };
}

/**
 * One EXTRACT line of fetch.sh: NAME=VERSION FILENAME SHA256 TARBALL PREFIX KEY MEMBER... (a line of
 * words: every field is a plain name from the catalog, lines.json or the module spec, checked here).
 */
export function sourceExtract(f: SourceFile, line: Line, module: ModuleSpec): string {
  const words = [`${f.name}=${f.version}`, f.filename, f.sha256, line.sourceTarball, line.sourcePrefix, f.sha256, ...module.sources];
  for (const w of words) if (!/^[A-Za-z0-9._+~:/=-]+$/.test(w)) throw new Error(`refusing to pass ${JSON.stringify(w)} to fetch.sh: not a plain name`);
  return words.join(' ');
}
