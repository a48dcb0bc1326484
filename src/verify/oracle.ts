/** The oracle check: our build's sections against the distribution's own module, byte for byte. */
import type { Check } from './check.ts';
import { ElfError, parseElf, type ElfFile, type ElfSection } from './elf.ts';
import { DEFAULT_ORACLE_SECTIONS, firstDifference, selectSections } from './sections.ts';
import { sha256 } from '../util/hash.ts';

export interface SectionComparison {
  name: string;
  /** Size and sha256 of the built module's section (of the reference's when missing from the build). */
  size: number;
  sha256: string;
  equal: boolean;
  missingFrom?: 'built' | 'reference';
}

export type OracleCheck = Check & { sections: SectionComparison[] };

const MAX_LISTED = 5;
const hexByte = (b: number | undefined) => (b === undefined ? 'end of section' : '0x' + b.toString(16).padStart(2, '0'));

function describe(key: string, a: ElfSection, b: ElfSection, at: number): string {
  const where = a.type === 8 || b.type === 8 ? 'no bytes (SHT_NOBITS)' : `first difference at offset 0x${at.toString(16)}: built ${hexByte(a.data[at])}, reference ${hexByte(b.data[at])}`;
  return `${key} differs (built ${a.size} bytes, reference ${b.size} bytes; ${where})`;
}

/** Compare every section matching `patterns` that is present in either file. */
export function compareSections(
  built: Uint8Array | ElfFile,
  reference: Uint8Array | ElfFile,
  patterns: readonly string[] = DEFAULT_ORACLE_SECTIONS,
): OracleCheck {
  let a: ElfFile, b: ElfFile;
  try {
    a = built instanceof Uint8Array ? parseElf(built, 'built module') : built;
    b = reference instanceof Uint8Array ? parseElf(reference, 'reference module') : reference;
  } catch (e) {
    if (e instanceof ElfError) return { name: 'oracle', ok: false, detail: e.message, sections: [] };
    throw e;
  }
  const ours = new Map(selectSections(a, patterns).map((k) => [k.key, k.section]));
  const theirs = new Map(selectSections(b, patterns).map((k) => [k.key, k.section]));
  const keys = [...ours.keys(), ...[...theirs.keys()].filter((k) => !ours.has(k))];

  const sections: SectionComparison[] = [];
  const problems: string[] = [];
  let identicalBytes = 0;
  for (const key of keys) {
    const x = ours.get(key);
    const y = theirs.get(key);
    if (!x || !y) {
      const present = (x ?? y)!;
      const missingFrom = x ? 'reference' : 'built';
      sections.push({ name: key, size: present.size, sha256: sha256(present.data), equal: false, missingFrom });
      problems.push(`${key} is only in the ${x ? 'built' : 'reference'} module (${present.size} bytes), missing from the ${missingFrom} module`);
      continue;
    }
    const at = firstDifference(x, y);
    sections.push({ name: key, size: x.size, sha256: sha256(x.data), equal: at < 0 });
    if (at < 0) identicalBytes += x.size;
    else problems.push(describe(key, x, y, at));
  }

  const name = 'oracle';
  if (keys.length === 0)
    return { name, ok: false, detail: `no section matches ${patterns.join(', ')} in either module: nothing was compared`, sections };
  if (problems.length > 0) {
    const more = problems.length > MAX_LISTED ? `; and ${problems.length - MAX_LISTED} more` : '';
    return { name, ok: false, detail: `${problems.length} of ${keys.length} sections differ: ${problems.slice(0, MAX_LISTED).join('; ')}${more}`, sections };
  }
  return { name, ok: true, detail: `${keys.length} sections (${identicalBytes} bytes) identical to the reference: ${keys.join(', ')}`, sections };
}
