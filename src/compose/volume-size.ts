import fs from 'node:fs/promises';

/**
 * Size in bytes of a regular file or a block device on this machine. Block devices report size 0
 * to stat; the kernel gives it in /sys/dev/block/MAJ:MIN/size (512-byte sectors whatever the
 * logical sector size), with no tool to start.
 */
export async function localVolumeSize(p: string): Promise<{ bytes: number; kind: 'file' | 'block' }> {
  const st = await fs.stat(p);
  if (st.isFile()) return { bytes: st.size, kind: 'file' };
  if (!st.isBlockDevice()) throw new Error(`${p} is neither a regular file nor a block device`);
  const maj = Math.floor(st.rdev / 256) & 0xfff; // glibc's gnu_dev_major/minor for the common encodings
  const min = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const text = await fs.readFile(`/sys/dev/block/${maj}:${min}/size`, 'utf8');
  const sectors = Number(text.trim());
  if (!Number.isSafeInteger(sectors) || sectors < 0) throw new Error(`/sys/dev/block/${maj}:${min}/size: not a sector count: ${JSON.stringify(text)}`);
  return { bytes: sectors * 512, kind: 'block' };
}
