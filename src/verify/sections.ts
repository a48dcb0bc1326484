/** Selecting sections by name pattern and fingerprinting their contents. */
import { sha256 } from '../util/hash.ts';
import { parseElf, type ElfFile, type ElfSection } from './elf.ts';

/**
 * The sections of a module that are byte-identical between our build and the distribution's
 * own build (after strip --strip-debug); see FACTS.md "Building nbd.ko". Relocation sections
 * (.rela.*) are deliberately not matched: `.init*` is a prefix glob anchored at the start.
 */
export const DEFAULT_ORACLE_SECTIONS: readonly string[] = ['.text', '.data', '.rodata*', '__versions', '.init*', '.exit*'];

/** Exact name, or a prefix glob when the pattern ends in `*` (`.rodata*` matches `.rodata.str1.1`). */
export function matchesPattern(name: string, pattern: string): boolean {
  return pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : name === pattern;
}

export function matchesAny(name: string, patterns: readonly string[]): boolean {
  return patterns.some((p) => matchesPattern(name, p));
}

export interface KeyedSection {
  /** The section name; `name#2`, `name#3`... for later sections with the same name. */
  key: string;
  section: ElfSection;
}

/** Matching sections in file order, keyed uniquely even when a name repeats (COMDAT groups). */
export function selectSections(elf: ElfFile, patterns: readonly string[]): KeyedSection[] {
  const seen = new Map<string, number>();
  const out: KeyedSection[] = [];
  for (const section of elf.sections) {
    if (section.name === '' || !matchesAny(section.name, patterns)) continue;
    const n = (seen.get(section.name) ?? 0) + 1;
    seen.set(section.name, n);
    out.push({ key: n === 1 ? section.name : `${section.name}#${n}`, section });
  }
  return out;
}


export interface SectionHash {
  name: string;
  size: number;
  sha256: string;
}

/** Name, size and sha256 of every section matching `patterns` (for the manifest). */
export function sectionHashes(ko: Uint8Array | ElfFile, patterns: readonly string[] = DEFAULT_ORACLE_SECTIONS): SectionHash[] {
  const elf = ko instanceof Uint8Array ? parseElf(ko) : ko;
  return selectSections(elf, patterns).map(({ key, section }) => ({ name: key, size: section.size, sha256: sha256(section.data) }));
}

/** First offset where two sections differ, or -1 when they are identical (bytes, size and type). */
export function firstDifference(a: ElfSection, b: ElfSection): number {
  const n = Math.min(a.data.length, b.data.length);
  for (let i = 0; i < n; i++) if (a.data[i] !== b.data[i]) return i;
  if (a.data.length !== b.data.length || a.size !== b.size || a.type !== b.type) return n;
  return -1;
}
