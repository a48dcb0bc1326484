/**
 * CHS fields of an MBR partition entry. Nothing reads them any more, but partitioning tools still
 * fill them in, with the geometry they all assume (255 heads, 63 sectors per track) and the
 * "beyond CHS" marker past cylinder 1023 (0xFE 0xFF 0xFF in an MBR partition, as sfdisk writes it;
 * 0xFF 0xFF 0xFF in a protective MBR, as the UEFI spec and sgdisk say); writing the same keeps our tables
 * byte-identical to sgdisk's and sfdisk's (the unit tests compare them).
 */
const HEADS = 255;
const SECTORS = 63;

export function chs(lba: number, beyond: [number, number, number] = [0xfe, 0xff, 0xff]): [number, number, number] {
  const c = Math.floor(lba / (HEADS * SECTORS));
  if (c > 1023) return beyond;
  const h = Math.floor(lba / SECTORS) % HEADS;
  const s = (lba % SECTORS) + 1;
  return [h, s | ((c >> 2) & 0xc0), c & 0xff];
}

/** One 16-byte MBR partition entry at OFF. */
export function writeMbrEntry(buf: Buffer, off: number, e: { boot?: boolean; type: number; first: number; sectors: number; chsEnd?: [number, number, number] }): void {
  buf[off] = e.boot ? 0x80 : 0;
  buf.set(chs(e.first), off + 1);
  buf[off + 4] = e.type;
  buf.set(e.chsEnd ?? chs(e.first + e.sectors - 1), off + 5);
  buf.writeUInt32LE(e.first, off + 8);
  buf.writeUInt32LE(e.sectors, off + 12);
}
