/**
 * Where everything goes on the composite disk, in 512-byte sectors (device-mapper's unit):
 *   [head: alignment, holding the MBR (+ GPT header and entries)] [the volume] [GPT: backup entries + header]
 * The volume starts on the alignment and is never moved or read: only its size matters.
 */
import { NbdforgeError } from '../errors.ts';

export const SECTOR = 512;
/** 128 entries of 128 bytes: the size every tool writes and expects (UEFI minimum 16 KiB). */
export const GPT_ENTRIES = 128;
export const GPT_ENTRY_SIZE = 128;
export const GPT_ENTRY_SECTORS = (GPT_ENTRIES * GPT_ENTRY_SIZE) / SECTOR; // 32
/** MBR sector + GPT header + entries. */
export const GPT_HEAD_MIN = 2 + GPT_ENTRY_SECTORS; // 34
/** Backup entries + backup header. */
export const GPT_TAIL = GPT_ENTRY_SECTORS + 1; // 33
/** MBR start and length fields are 32-bit sector numbers. */
export const MBR_MAX_SECTOR = 0xffffffff;

export type TableKind = 'gpt' | 'mbr';

export class LayoutError extends NbdforgeError {
  override name = 'LayoutError';
  override readonly exitCode = 2;
}

export interface Layout {
  table: TableKind;
  alignSectors: number;
  /** Sectors before the volume (a multiple of the alignment). */
  headSectors: number;
  volumeSectors: number;
  /** Bytes of the volume beyond its last whole sector (device-mapper cannot map them). */
  volumeTailBytes: number;
  tailSectors: number;
  totalSectors: number;
  /** The partition is exactly the volume. */
  partFirst: number;
  partLast: number;
}

/** Sectors are below 2^53 (8 EiB of 512-byte sectors is far beyond any volume here): plain numbers suffice. */
export function computeLayout(table: TableKind, volumeBytes: number, alignBytes = 1024 * 1024): Layout {
  if (!Number.isSafeInteger(volumeBytes) || volumeBytes < 0) throw new LayoutError(`volume size must be a whole number of bytes: ${volumeBytes}`);
  if (!Number.isSafeInteger(alignBytes) || alignBytes < SECTOR || alignBytes % SECTOR !== 0)
    throw new LayoutError(`--align must be a whole number of 512-byte sectors (at least one): ${alignBytes} bytes`);
  const alignSectors = alignBytes / SECTOR;
  const volumeSectors = Math.floor(volumeBytes / SECTOR);
  if (volumeBytes < alignBytes)
    throw new LayoutError(`the volume (${volumeBytes} bytes) is smaller than the alignment (${alignBytes} bytes): nothing worth a partition table; use a smaller --align or a bigger volume`);
  const minHead = table === 'gpt' ? GPT_HEAD_MIN : 1;
  const headSectors = Math.ceil(minHead / alignSectors) * alignSectors;
  const tailSectors = table === 'gpt' ? GPT_TAIL : 0;
  const totalSectors = headSectors + volumeSectors + tailSectors;
  const partFirst = headSectors;
  const partLast = headSectors + volumeSectors - 1;
  if (table === 'mbr' && partLast > MBR_MAX_SECTOR) {
    const tib = (totalSectors * SECTOR) / 2 ** 40;
    throw new LayoutError(
      `MBR cannot describe this disk: it would end at sector ${partLast + 1} (${tib.toFixed(3)} TiB), beyond the 2 TiB MBR limit (32-bit sector numbers, last sector ${MBR_MAX_SECTOR}); use --table gpt`,
    );
  }
  return { table, alignSectors, headSectors, volumeSectors, volumeTailBytes: volumeBytes % SECTOR, tailSectors, totalSectors, partFirst, partLast };
}

/** `1M`, `4K`, `2048s`, `512`: the alignment in bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^(\d+)(s|K|k|M|G|T)?$/.exec(text.trim());
  if (!m) throw new LayoutError(`${what}: expected bytes, <n>s (512-byte sectors), <n>K, <n>M, <n>G or <n>T: ${text}`);
  const unit = { s: SECTOR, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2] as 's'] ?? 1;
  const n = Number(m[1]) * unit;
  if (!Number.isSafeInteger(n)) throw new LayoutError(`${what}: too large: ${text}`);
  return n;
}
