/**
 * Symbol versions (CONFIG_MODVERSIONS): the module's __versions table of imported symbols
 * and their CRCs, and kbuild's Module.symvers listing the CRCs the kernel exports.
 */
import { ElfError, labelled, type ElfFile } from './elf.ts';
import { NbdforgeError } from '../errors.ts';

/** struct modversion_info on 64-bit: unsigned long crc; char name[64 - sizeof(unsigned long)]. */
const ENTRY = 64;
const NAME_OFFSET = 8;

export interface VersionEntry {
  name: string;
  /** Low 32 bits of the stored unsigned long (modpost only ever writes 32-bit CRCs). */
  crc: number;
}

/** The imported symbols in __versions, in file order; [] when the section is absent. */
export function readVersions(elf: ElfFile): VersionEntry[] {
  const sec = elf.section('__versions');
  if (!sec) return [];
  if (sec.data.length % ENTRY !== 0)
    throw new ElfError(labelled(elf, `__versions is ${sec.data.length} bytes, not a multiple of the ${ENTRY}-byte entry size`));
  const dv = new DataView(sec.data.buffer, sec.data.byteOffset, sec.data.byteLength);
  const decoder = new TextDecoder('utf-8');
  const out: VersionEntry[] = [];
  for (let o = 0; o < sec.data.length; o += ENTRY) {
    const nameBytes = sec.data.subarray(o + NAME_OFFSET, o + ENTRY);
    const nul = nameBytes.indexOf(0);
    out.push({ crc: dv.getUint32(o, true), name: decoder.decode(nul < 0 ? nameBytes : nameBytes.subarray(0, nul)) });
  }
  return out;
}

export class SymversError extends NbdforgeError {
  override name = 'SymversError';
}

/**
 * Parse Module.symvers: `0xCRC<TAB>symbol<TAB>module<TAB>EXPORT_TYPE[<TAB>namespace]`.
 * Only the first two columns are used; they are the same in every layout (3.10 has four
 * columns, 5.4-5.9 put the namespace third, later kernels put it last, often empty).
 */
export function parseModuleSymvers(text: string, label = 'Module.symvers'): Map<string, number> {
  const out = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((line, i) => {
    line = line.replace(/\r$/, '');
    if (line.trim() === '') return;
    const cols = line.split('\t');
    const m = /^0x([0-9a-fA-F]{1,16})$/.exec(cols[0]);
    if (!m || cols.length < 2 || cols[1] === '')
      throw new SymversError(`${label}:${i + 1}: expected "0xCRC<TAB>symbol<TAB>...", got ${JSON.stringify(line.slice(0, 120))}`);
    out.set(cols[1], Number.parseInt(m[1].slice(-8), 16) >>> 0);
  });
  return out;
}

/** CRCs as kbuild prints them: 0x%08x. */
export function hexCrc(crc: number): string {
  return '0x' + (crc >>> 0).toString(16).padStart(8, '0');
}
