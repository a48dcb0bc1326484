import { writeMbrEntry } from './chs.ts';
import type { TableBytes } from './gpt.ts';
import { type Layout, SECTOR } from './layout.ts';

export interface MbrSpec {
  /** 32-bit disk signature (Windows identifies disks by it; never 0, or Windows writes one). */
  diskId: number;
  /** MBR system id (0x07 NTFS, 0x83 Linux...). */
  type: number;
  boot?: boolean;
}

/** One primary partition covering the volume; no tail. */
export function writeMbr(l: Layout, spec: MbrSpec): TableBytes {
  if (l.table !== 'mbr') throw new Error('writeMbr needs an MBR layout (computeLayout refuses disks beyond 2 TiB)');
  if (!Number.isInteger(spec.diskId) || spec.diskId < 0 || spec.diskId > 0xffffffff) throw new Error(`MBR disk id must be a 32-bit number: ${spec.diskId}`);
  const head = Buffer.alloc(SECTOR);
  head.writeUInt32LE(spec.diskId, 440);
  writeMbrEntry(head, 446, { boot: spec.boot, type: spec.type, first: l.partFirst, sectors: l.volumeSectors });
  head.writeUInt16LE(0xaa55, 510);
  return { head, tail: Buffer.alloc(0) };
}
