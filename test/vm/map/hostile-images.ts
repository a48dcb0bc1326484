/**
 * Hostile images for test/vm/map-hostile-host.test.ts, made on the host (mkfs.ext4 -d, tune2fs,
 * debugfs, a partition table written byte by byte) straight into the share, each a qcow2:
 *   suid.qcow2     ext4 (whole disk) with a setuid-root copy of dash and a 0666 node for /dev/loop0
 *   plain.qcow2    ext4 (whole disk) "plain" with hello.txt
 *   panic.qcow2    ext4 whose superblock says errors=panic and whose root inode fails its checksum
 *   panicok.qcow2  ext4 whose superblock says errors=panic, intact
 *   label.qcow2    ext4 labelled a\b"c
 *   overlap.qcow2  DOS label: p1 and p2 over one ext4, an extended partition whose EBR links to
 *                  itself, its logical partitions over a second ext4
 */
import { $, fs, path } from 'zx';

export const HOSTILE_CONTENT = { plain: 'plain-content', suid: 'suid-content', ovA: 'overlap-a', ovB: 'overlap-b', label: 'a\\b"c' };

async function ext4(work: string, name: string, files: Record<string, string>, opts: string[] = []): Promise<string> {
  const dir = path.join(work, `${name}.d`);
  await fs.mkdirp(dir);
  for (const [f, text] of Object.entries(files)) {
    await fs.writeFile(path.join(dir, f), `${text}\n`);
    await fs.chmod(path.join(dir, f), 0o644);
  }
  await fs.chmod(dir, 0o755);
  const img = path.join(work, `${name}.ext4`);
  await $`mkfs.ext4 -q -F ${opts} -d ${dir} ${img} 16M`;
  return img;
}

async function qcow2(raw: string, out: string): Promise<void> {
  await $`qemu-img convert -f raw -O qcow2 ${raw} ${out}`;
}

/** Flip bytes inside the root inode (its mtime): its checksum no longer matches (metadata_csum). */
async function corruptRootInode(img: string): Promise<void> {
  const where = (await $`debugfs -R ${'imap <2>'} ${img}`).stdout;
  const m = /located at block (\d+), offset (0x[0-9a-f]+)/.exec(where);
  if (!m) throw new Error(`debugfs imap: ${where}`);
  const bs = Number(/Block size:\s+(\d+)/.exec((await $`dumpe2fs -h ${img}`).stdout)![1]);
  const at = Number(m[1]) * bs + Number(m[2]) + 0x10;
  const fd = await fs.open(img, 'r+');
  try {
    await fs.write(fd, Buffer.from([0xde, 0xad, 0xbe, 0xef]), 0, 4, at);
  } finally {
    await fs.close(fd);
  }
  const f = (await $({ nothrow: true })`e2fsck -fn ${img}`).stdout;
  if (!/checksum/i.test(f) && !/Root inode/i.test(f)) throw new Error(`the root inode of ${img} still checks: ${f}`);
}

function mbrEntry(buf: Buffer, i: number, type: number, start: number, size: number): void {
  const o = 446 + 16 * i;
  buf.set([0, 0xfe, 0xff, 0xff, type, 0xfe, 0xff, 0xff], o);
  buf.writeUInt32LE(start, o + 8);
  buf.writeUInt32LE(size, o + 12);
}

export async function makeHostileImages(share: string, work: string): Promise<void> {
  await fs.mkdirp(work);
  const sh = async (n: string) => path.join(share, n);
  // a setuid-root shell and a world-writable node for a root-only host device
  const suidDir = path.join(work, 'suid.d');
  await fs.mkdirp(suidDir);
  await fs.writeFile(path.join(suidDir, 'hello.txt'), `${HOSTILE_CONTENT.suid}\n`);
  await fs.chmod(path.join(suidDir, 'hello.txt'), 0o644);
  await fs.chmod(suidDir, 0o755);
  await fs.copy('/bin/dash', path.join(suidDir, 'rootsh'));
  await $`chown 0:0 ${path.join(suidDir, 'rootsh')} && chmod 4755 ${path.join(suidDir, 'rootsh')}`;
  await $`mknod -m 0666 ${path.join(suidDir, 'loopnode')} b 7 0`;
  await $`mkfs.ext4 -q -F -d ${suidDir} ${path.join(work, 'suid.ext4')} 16M`;
  await qcow2(path.join(work, 'suid.ext4'), await sh('suid.qcow2'));

  const plain = await ext4(work, 'plain', { 'hello.txt': HOSTILE_CONTENT.plain }, ['-L', 'plain']);
  await qcow2(plain, await sh('plain.qcow2'));

  const panicok = await ext4(work, 'panicok', { 'hello.txt': 'panicok' });
  await $`tune2fs -e panic ${panicok}`;
  await qcow2(panicok, await sh('panicok.qcow2'));
  const panic = await ext4(work, 'panic', { 'hello.txt': 'panic' });
  await $`tune2fs -e panic ${panic}`;
  await corruptRootInode(panic);
  await qcow2(panic, await sh('panic.qcow2'));

  const label = await ext4(work, 'label', { 'hello.txt': 'label' }, ['-L', HOSTILE_CONTENT.label]);
  await qcow2(label, await sh('label.qcow2'));

  // overlap: p1 and p2 both at 2048 (one ext4), p3 extended at 40960 whose EBR names a logical
  // partition at +2048 (a second ext4) and, as the next EBR, itself
  const raw = path.join(work, 'overlap.raw');
  await $`truncate -s 96M ${raw}`;
  const a = await ext4(work, 'ova', { 'hello.txt': HOSTILE_CONTENT.ovA }, ['-L', 'ov-a']);
  const b = await ext4(work, 'ovb', { 'hello.txt': HOSTILE_CONTENT.ovB }, ['-L', 'ov-b']);
  await $`dd if=${a} of=${raw} bs=512 seek=2048 conv=notrunc status=none`;
  await $`dd if=${b} of=${raw} bs=512 seek=43008 conv=notrunc status=none`;
  const mbr = Buffer.alloc(512);
  mbrEntry(mbr, 0, 0x83, 2048, 32768);
  mbrEntry(mbr, 1, 0x83, 2048, 32768);
  mbrEntry(mbr, 2, 0x05, 40960, 40960);
  mbr.writeUInt16LE(0xaa55, 510);
  const ebr = Buffer.alloc(512);
  mbrEntry(ebr, 0, 0x83, 2048, 32768);
  mbrEntry(ebr, 1, 0x05, 0, 40960);
  ebr.writeUInt16LE(0xaa55, 510);
  const fd = await fs.open(raw, 'r+');
  try {
    await fs.write(fd, mbr, 0, 512, 0);
    await fs.write(fd, ebr, 0, 512, 40960 * 512);
  } finally {
    await fs.close(fd);
  }
  await qcow2(raw, await sh('overlap.qcow2'));

  // two images with the same base name; one to hold busy; text that is no image
  for (const d of ['a', 'b']) {
    await fs.mkdirp(path.join(share, d));
    await fs.copy(path.join(share, 'plain.qcow2'), path.join(share, d, 'dup.qcow2'));
  }
  await fs.copy(path.join(share, 'plain.qcow2'), path.join(share, 'busy.qcow2'));
  await fs.writeFile(path.join(share, 'notimage.txt'), 'this is a text file, not a disk image\n'.repeat(100));
}
