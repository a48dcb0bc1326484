import { isGuid, normalizeGuid } from './guid.ts';
import { NbdforgeError } from '../errors.ts';

/**
 * Partition types by name, with their GPT type GUID and MBR system id (UEFI spec table 5.x, the
 * Discoverable Partitions Specification for Linux types, and Microsoft's documented ids).
 */
interface Known {
  gpt: string;
  mbr: number;
}
const KNOWN: Record<string, Known> = {
  linux: { gpt: '0FC63DAF-8483-4772-8E79-3D69D8477DE4', mbr: 0x83 },
  'basic-data': { gpt: 'EBD0A0A2-B9E5-4433-87C0-68B6B72699C7', mbr: 0x07 },
  lvm: { gpt: 'E6D6D379-F507-44C2-A23C-238F2A3DF928', mbr: 0x8e },
  swap: { gpt: '0657FD6D-A4AB-43C4-84E5-0933C84B4F4F', mbr: 0x82 },
};
const ALIASES: Record<string, string> = { ntfs: 'basic-data', exfat: 'basic-data', fat: 'basic-data', vfat: 'basic-data' };
export const TYPE_NAMES = ['linux', 'ntfs', 'basic-data', 'lvm', 'swap'];

export class PartTypeError extends NbdforgeError {
  override name = 'PartTypeError';
  override readonly exitCode = 2;
}

export interface PartType {
  /** As the user named it (or the GUID / id). */
  name: string;
  gpt?: string;
  mbr?: number;
}

/** `linux`, `ntfs`, a type GUID (GPT only) or an MBR id such as `0x07`/`83` (MBR; GPT too when known). */
export function parsePartType(text: string): PartType {
  const key = text.toLowerCase();
  const known = KNOWN[ALIASES[key] ?? key];
  if (known) return { name: key, ...known };
  if (isGuid(text)) {
    const gpt = normalizeGuid(text);
    const byGuid = Object.values(KNOWN).find((k) => k.gpt === gpt);
    return { name: gpt, gpt, mbr: byGuid?.mbr };
  }
  const m = /^(0x)?([0-9a-f]{1,2})$/i.exec(text);
  if (m) {
    const mbr = Number.parseInt(m[2], 16);
    if (mbr === 0 || mbr === 0xee || mbr === 0x05 || mbr === 0x0f || mbr === 0x85)
      throw new PartTypeError(`MBR type 0x${mbr.toString(16)} is not a data partition (empty, GPT-protective or extended)`);
    const byId = Object.values(KNOWN).find((k) => k.mbr === mbr);
    return { name: `0x${mbr.toString(16).padStart(2, '0')}`, mbr, gpt: byId?.gpt };
  }
  throw new PartTypeError(`unknown partition type ${JSON.stringify(text)}: use ${TYPE_NAMES.join(', ')}, a GPT type GUID, or an MBR id such as 0x07`);
}
