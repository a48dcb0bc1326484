import { computeLayout, type Layout, type TableKind } from './layout.ts';
import { parsePartType, type PartType, PartTypeError } from './part-type.ts';
import { randomGuid, normalizeGuid } from './guid.ts';
import { randomBytes } from 'node:crypto';
import { writeGpt, type TableBytes, gptName } from './gpt.ts';
import { writeMbr } from './mbr.ts';

/** What a composite's partition table is made from: pure data, resolved once (GUIDs drawn here). */
export interface TableRequest {
  table: TableKind;
  volumeBytes: number;
  alignBytes?: number;
  type?: string;
  name?: string;
  diskGuid?: string;
  partGuid?: string;
  /** MBR disk signature. */
  diskId?: number;
}

export interface ResolvedTable {
  layout: Layout;
  type: PartType;
  name: string;
  diskGuid?: string;
  partGuid?: string;
  diskId?: number;
  bytes: TableBytes;
}

export function resolveTable(req: TableRequest): ResolvedTable {
  const layout = computeLayout(req.table, req.volumeBytes, req.alignBytes);
  const type = parsePartType(req.type ?? 'linux');
  const name = req.name ?? '';
  if (req.table === 'gpt') {
    if (!type.gpt) throw new PartTypeError(`MBR type ${type.name} has no GPT type GUID here: give --type as a name (linux, ntfs, lvm, swap) or a GUID`);
    gptName(name);
    const diskGuid = req.diskGuid ? normalizeGuid(req.diskGuid) : randomGuid();
    const partGuid = req.partGuid ? normalizeGuid(req.partGuid) : randomGuid();
    return { layout, type, name, diskGuid, partGuid, bytes: writeGpt(layout, { diskGuid, partGuid, typeGuid: type.gpt, name }) };
  }
  if (type.mbr === undefined) throw new PartTypeError(`GPT type ${type.name} has no MBR id here: give --type as a name or an MBR id such as 0x83`);
  if (req.diskGuid || req.partGuid || req.name) throw new PartTypeError('--disk-guid, --part-guid and --part-name are GPT fields: with --table mbr use --disk-id');
  let diskId = req.diskId;
  while (diskId === undefined || diskId === 0) diskId = randomBytes(4).readUInt32LE(0);
  return { layout, type, name, diskId, bytes: writeMbr(layout, { diskId, type: type.mbr }) };
}
