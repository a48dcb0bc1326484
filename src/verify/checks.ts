/** Verification checks on a built kernel module, each returning a manifest Check. */
import type { Check } from './check.ts';
import { ElfError, parseElf, type ElfFile } from './elf.ts';
import { vermagicOf } from './modinfo.ts';
import { hexCrc, parseModuleSymvers, readVersions } from './versions.ts';

export { compareSections, type OracleCheck, type SectionComparison } from './oracle.ts';
export { sectionHashes, DEFAULT_ORACLE_SECTIONS } from './sections.ts';

const MAX_LISTED = 10;

/** Run `body` on the parsed module; an unreadable module is a failed check, not a crash. */
export function withElf(name: string, ko: Uint8Array | ElfFile, body: (elf: ElfFile) => Check): Check {
  try {
    return body(ko instanceof Uint8Array ? parseElf(ko) : ko);
  } catch (e) {
    if (e instanceof ElfError) return { name, ok: false, detail: e.message };
    throw e;
  }
}

export function checkVermagic(ko: Uint8Array | ElfFile, expected: string): Check {
  return withElf('vermagic', ko, (elf) => {
    const actual = vermagicOf(elf);
    // Compare after trimming both ends only: Debian's vermagic carries a trailing space
    // ("6.1.0-56-amd64 SMP preempt mod_unload modversions "), which callers often lose.
    // Inner whitespace still matters.
    const ok = actual.trim() === expected.trim();
    return {
      name: 'vermagic',
      ok,
      detail: ok
        ? `vermagic ${JSON.stringify(actual)} matches`
        : `vermagic mismatch: module has ${JSON.stringify(actual)}, expected ${JSON.stringify(expected)}`,
    };
  });
}

export function checkCrcs(ko: Uint8Array | ElfFile, symvers: string | Map<string, number>): Check {
  const name = 'crcs';
  const exported = typeof symvers === 'string' ? parseModuleSymvers(symvers) : symvers;
  return withElf(name, ko, (elf) => {
    if (!elf.section('__versions'))
      return { name, ok: false, detail: 'no __versions section: the module was built without modversions (CONFIG_MODVERSIONS)' };
    const imports = readVersions(elf);
    if (imports.length === 0) return { name, ok: false, detail: '__versions is empty: no imported symbols to check' };
    const offenders: string[] = [];
    for (const { name: sym, crc } of imports) {
      const want = exported.get(sym);
      if (want === undefined) offenders.push(`${sym}: missing from Module.symvers`);
      else if (want !== crc) offenders.push(`${sym}: module ${hexCrc(crc)}, Module.symvers ${hexCrc(want)}`);
    }
    if (offenders.length === 0)
      return { name, ok: true, detail: `${imports.length} imported symbols, all CRCs match Module.symvers` };
    const more = offenders.length > MAX_LISTED ? `; and ${offenders.length - MAX_LISTED} more` : '';
    return {
      name,
      ok: false,
      detail: `${offenders.length} of ${imports.length} imported symbols do not match Module.symvers: ${offenders.slice(0, MAX_LISTED).join('; ')}${more}`,
    };
  });
}
