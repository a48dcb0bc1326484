/**
 * Does the volume already start with a partition table? Composing one in front of it would give a
 * disk whose partition holds a partitioned disk, which is rarely what anyone wants (the caller asks
 * for --force). Reads the first 8 KiB only. Filesystem boot sectors also end in 0x55AA (NTFS, FAT,
 * exFAT): those are filesystems, not tables, and are told apart by their OEM/type strings.
 */
export interface Found {
  kind: 'gpt' | 'dos';
  what: string;
}

const FS_BOOT = [
  { at: 3, text: 'NTFS    ', fs: 'ntfs' },
  { at: 3, text: 'EXFAT   ', fs: 'exfat' },
  { at: 54, text: 'FAT', fs: 'vfat' },
  { at: 82, text: 'FAT32', fs: 'vfat' },
];

export function detectTable(first: Uint8Array): Found | undefined {
  const b = Buffer.from(first.buffer, first.byteOffset, first.byteLength);
  for (const sector of [512, 4096]) {
    if (b.length >= sector + 8 && b.toString('latin1', sector, sector + 8) === 'EFI PART')
      return { kind: 'gpt', what: `a GPT partition table (header at byte ${sector})` };
  }
  if (b.length < 512 || b.readUInt16LE(510) !== 0xaa55) return undefined;
  if (FS_BOOT.some((f) => b.toString('latin1', f.at, f.at + f.text.length) === f.text)) return undefined;
  const parts: string[] = [];
  for (let i = 0; i < 4; i++) {
    const o = 446 + 16 * i;
    const status = b[o];
    const type = b[o + 4];
    const start = b.readUInt32LE(o + 8);
    const count = b.readUInt32LE(o + 12);
    if (type === 0 && start === 0 && count === 0) continue;
    if ((status !== 0 && status !== 0x80) || type === 0 || count === 0) return undefined; // not a table: random bytes that end in 55AA
    parts.push(`${i + 1}: type 0x${type.toString(16).padStart(2, '0')}, start ${start}, ${count} sectors`);
  }
  if (parts.length === 0) return undefined;
  if (parts.some((p) => p.includes('type 0xee'))) return { kind: 'gpt', what: 'a protective MBR (a GPT disk whose GPT header is not where 512-byte sectors put it)' };
  return { kind: 'dos', what: `an MBR partition table (${parts.join('; ')})` };
}
