/**
 * Minimal ELF64 little-endian reader: just the section table, which is all that
 * kernel-module verification needs (.modinfo, __versions, code/data sections).
 */
import { NbdforgeError } from '../errors.ts';

export class ElfError extends NbdforgeError {
  override name = 'ElfError';
}

export const SHT_NOBITS = 8;
const ET_NAMES: Record<number, string> = { 1: 'relocatable', 2: 'executable', 3: 'shared object', 4: 'core' };

export interface ElfSection {
  name: string;
  type: number;
  flags: bigint;
  offset: number;
  size: number;
  /** The section's bytes (a view into the input buffer); empty for SHT_NOBITS. */
  data: Uint8Array;
}

export interface ElfFile {
  label?: string;
  /** e_type: 1 = ET_REL (a .ko), 3 = ET_DYN. */
  type: number;
  /** e_machine: 62 = x86_64. */
  machine: number;
  sections: ElfSection[];
  /** The first section with this exact name, if any. */
  section(name: string): ElfSection | undefined;
}

/** Parse the section table of an ELF64 LE relocatable or shared object. `label` prefixes error messages. */
export function parseElf(buf: Uint8Array, label?: string): ElfFile {
  const fail = (why: string): never => {
    throw new ElfError(label ? `${label}: ${why}` : why);
  };
  if (buf.length < 4 || buf[0] !== 0x7f || buf[1] !== 0x45 || buf[2] !== 0x4c || buf[3] !== 0x46) {
    const got = Array.from(buf.subarray(0, 4), (b) => b.toString(16).padStart(2, '0')).join(' ');
    fail(`not an ELF file (bad magic: expected 7f 45 4c 46, got ${got || 'an empty file'})`);
  }
  if (buf.length < 6) fail(`truncated ELF file: ${buf.length} bytes, the ELF header needs 64`);
  if (buf[4] === 1) fail('unsupported ELF32 file (only ELF64 is supported)');
  if (buf[4] !== 2) fail(`unsupported ELF class ${buf[4]} (only ELF64 is supported)`);
  if (buf[5] === 2) fail('unsupported big-endian ELF file (only little-endian is supported)');
  if (buf[5] !== 1) fail(`unsupported ELF data encoding ${buf[5]} (only little-endian is supported)`);
  if (buf.length < 64) fail(`truncated ELF file: ${buf.length} bytes, the ELF header needs 64`);

  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number, what: string): number => {
    const v = dv.getBigUint64(o, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} 0x${v.toString(16)} is beyond the end of the ${buf.length}-byte file (truncated?)`);
    return Number(v);
  };

  const type = u16(16);
  const machine = u16(18);
  if (type !== 1 && type !== 3) fail(`unsupported ELF type ${type} (${ET_NAMES[type] ?? 'unknown'}): expected relocatable or shared object`);
  const shoff = u64(40, 'section header table offset');
  const shentsize = u16(58);
  let shnum = u16(60);
  let shstrndx = u16(62);
  if (shoff === 0) fail('no section header table (e_shoff is 0)');
  if (shentsize !== 64) fail(`bad section header entry size ${shentsize} (ELF64 uses 64)`);
  if (shoff + 64 > buf.length) fail(`truncated file: section header table at offset ${shoff} is beyond the end of the ${buf.length}-byte file`);
  // Extended numbering: with >= 0xff00 sections the real counts live in section header 0.
  if (shnum === 0) shnum = u64(shoff + 32, 'extended section count');
  if (shstrndx === 0xffff) shstrndx = u32(shoff + 40);
  const tableEnd = shoff + shnum * 64;
  if (tableEnd > buf.length)
    fail(`truncated file: section header table (${shnum} entries at offset ${shoff}, ending at ${tableEnd}) extends beyond the end of the ${buf.length}-byte file`);
  if (shstrndx === 0 || shstrndx >= shnum) fail(`bad e_shstrndx ${shstrndx}: the file has ${shnum} sections`);

  const raw: Array<{ nameOff: number; type: number; flags: bigint; offset: number; size: number }> = [];
  for (let i = 0; i < shnum; i++) {
    const h = shoff + i * 64;
    raw.push({ nameOff: u32(h), type: u32(h + 4), flags: dv.getBigUint64(h + 8, true), offset: u64(h + 24, `section ${i} offset`), size: u64(h + 32, `section ${i} size`) });
  }
  const dataOf = (i: number, name: string): Uint8Array => {
    const s = raw[i];
    if (s.type === SHT_NOBITS || i === 0) return new Uint8Array(0);
    if (s.offset + s.size > buf.length)
      fail(`truncated file: section ${i} (${name}) bytes ${s.offset}..${s.offset + s.size} extend beyond the end of the ${buf.length}-byte file`);
    return buf.subarray(s.offset, s.offset + s.size);
  };
  if (raw[shstrndx].type === SHT_NOBITS) fail(`bad e_shstrndx ${shstrndx}: that section has no bytes (SHT_NOBITS)`);
  const strtab = dataOf(shstrndx, 'section name string table');
  const decoder = new TextDecoder('utf-8', { fatal: false });
  const nameAt = (off: number, i: number): string => {
    if (off >= strtab.length && !(off === 0 && i === 0)) fail(`section ${i}: name offset ${off} is outside the ${strtab.length}-byte section name table`);
    let end = off;
    while (end < strtab.length && strtab[end] !== 0) end++;
    return decoder.decode(strtab.subarray(off, end));
  };

  const sections: ElfSection[] = raw.map((s, i) => {
    const name = nameAt(s.nameOff, i);
    return { name, type: s.type, flags: s.flags, offset: s.offset, size: s.size, data: dataOf(i, name) };
  });
  return {
    label,
    type,
    machine,
    sections,
    section: (name) => sections.find((s) => s.name === name),
  };
}

/** Prefix a message with the file's label, as parseElf does. */
export function labelled(elf: Pick<ElfFile, 'label'>, why: string): string {
  return elf.label ? `${elf.label}: ${why}` : why;
}
