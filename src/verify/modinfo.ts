/** The .modinfo section of a kernel module: NUL-separated `key=value` strings (what modinfo(8) prints). */
import { ElfError, labelled, type ElfFile } from './elf.ts';

/** Every key with all its values in file order (keys such as alias, depends, parm repeat). */
export function readModinfo(elf: ElfFile): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const sec = elf.section('.modinfo');
  if (!sec) return out;
  const text = new TextDecoder('utf-8').decode(sec.data);
  // Strings are packed with __aligned(1), but stray alignment padding shows up as empty strings.
  for (const entry of text.split('\0')) {
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const key = eq < 0 ? entry : entry.slice(0, eq);
    const value = eq < 0 ? '' : entry.slice(eq + 1);
    const list = out.get(key);
    if (list) list.push(value);
    else out.set(key, [value]);
  }
  return out;
}

/** The module's vermagic string, exactly as stored (untrimmed). */
export function vermagicOf(elf: ElfFile): string {
  if (!elf.section('.modinfo')) throw new ElfError(labelled(elf, 'no .modinfo section, so no vermagic (not a kernel module?)'));
  const v = readModinfo(elf).get('vermagic');
  if (!v || v.length === 0) throw new ElfError(labelled(elf, '.modinfo has no vermagic= entry'));
  return v[0];
}
