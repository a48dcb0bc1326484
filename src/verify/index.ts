/** Reading and verifying Linux kernel modules (.ko) in pure TypeScript. */
export { parseElf, ElfError, SHT_NOBITS, type ElfFile, type ElfSection } from './elf.ts';
export { readModinfo, vermagicOf } from './modinfo.ts';
export { readVersions, parseModuleSymvers, hexCrc, SymversError, type VersionEntry } from './versions.ts';
export { DEFAULT_ORACLE_SECTIONS, matchesPattern, sectionHashes, type SectionHash } from './sections.ts';
export { checkVermagic, checkCrcs } from './checks.ts';
export { compareSections, type OracleCheck, type SectionComparison } from './oracle.ts';
