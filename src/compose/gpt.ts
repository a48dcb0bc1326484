import { crc32 } from './crc32.ts';
import { guidToBytes, normalizeGuid } from './guid.ts';
import { writeMbrEntry, chs } from './chs.ts';
import { type Layout, SECTOR, GPT_ENTRIES, GPT_ENTRY_SIZE, GPT_ENTRY_SECTORS, GPT_HEAD_MIN, MBR_MAX_SECTOR } from './layout.ts';

export interface GptSpec {
  diskGuid: string;
  partGuid: string;
  /** Partition type GUID. */
  typeGuid: string;
  /** Up to 36 UTF-16 code units. */
  name: string;
}

export interface TableBytes {
  /** The head's first bytes; the rest of the head (up to layout.headSectors) is zeros. */
  head: Buffer;
  /** Everything after the volume (empty for MBR). */
  tail: Buffer;
}

const HEADER_SIZE = 92;

/** The partition name as GPT stores it: UTF-16LE, 72 bytes, zero padded. */
export function gptName(name: string): Buffer {
  const b = Buffer.from(name, 'utf16le');
  if (b.length > 72) throw new Error(`partition name too long for GPT (36 UTF-16 units at most): ${JSON.stringify(name)}`);
  return b;
}

function entries(l: Layout, s: GptSpec): Buffer {
  const a = Buffer.alloc(GPT_ENTRIES * GPT_ENTRY_SIZE);
  guidToBytes(s.typeGuid).copy(a, 0);
  guidToBytes(s.partGuid).copy(a, 16);
  a.writeBigUInt64LE(BigInt(l.partFirst), 32);
  a.writeBigUInt64LE(BigInt(l.partLast), 40);
  // attributes (48..55) stay 0
  gptName(s.name).copy(a, 56);
  return a;
}

function header(l: Layout, s: GptSpec, mine: number, alternate: number, entriesLba: number, entriesCrc: number): Buffer {
  const h = Buffer.alloc(SECTOR);
  h.write('EFI PART', 0, 'latin1');
  h.writeUInt32LE(0x00010000, 8);
  h.writeUInt32LE(HEADER_SIZE, 12);
  h.writeBigUInt64LE(BigInt(mine), 24);
  h.writeBigUInt64LE(BigInt(alternate), 32);
  h.writeBigUInt64LE(BigInt(GPT_HEAD_MIN), 40); // first usable: right after the entries, as sgdisk writes it
  h.writeBigUInt64LE(BigInt(l.totalSectors - 1 - l.tailSectors), 48);
  guidToBytes(s.diskGuid).copy(h, 56);
  h.writeBigUInt64LE(BigInt(entriesLba), 72);
  h.writeUInt32LE(GPT_ENTRIES, 80);
  h.writeUInt32LE(GPT_ENTRY_SIZE, 84);
  h.writeUInt32LE(entriesCrc, 88);
  h.writeUInt32LE(crc32(h, 0, HEADER_SIZE), 16); // computed with its own field zero
  return h;
}

/** Protective MBR, primary header and entries (head); backup entries and header (tail). */
export function writeGpt(l: Layout, spec: GptSpec): TableBytes {
  if (l.table !== 'gpt') throw new Error('writeGpt needs a GPT layout');
  const s = { ...spec, diskGuid: normalizeGuid(spec.diskGuid), partGuid: normalizeGuid(spec.partGuid), typeGuid: normalizeGuid(spec.typeGuid) };
  const last = l.totalSectors - 1;
  const ents = entries(l, s);
  const ecrc = crc32(ents);

  const head = Buffer.alloc(GPT_HEAD_MIN * SECTOR);
  const pmbrSectors = Math.min(l.totalSectors - 1, MBR_MAX_SECTOR);
  writeMbrEntry(head, 446, { type: 0xee, first: 1, sectors: pmbrSectors, chsEnd: chs(pmbrSectors, [0xff, 0xff, 0xff]) });
  head.writeUInt16LE(0xaa55, 510);
  header(l, s, 1, last, 2, ecrc).copy(head, SECTOR);
  ents.copy(head, 2 * SECTOR);

  const tail = Buffer.alloc(l.tailSectors * SECTOR);
  ents.copy(tail, 0);
  header(l, s, last, 1, last - GPT_ENTRY_SECTORS, ecrc).copy(tail, GPT_ENTRY_SECTORS * SECTOR);
  return { head, tail };
}
