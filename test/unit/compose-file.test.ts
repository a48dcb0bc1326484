/**
 * `nbdforge compose --to-file` end to end on this machine (no device-mapper needed): real volumes made
 * with mkfs.ext4 and mkntfs, the composite checked by sgdisk -v, sfdisk --dump and fdisk -l, then
 * attached with losetup and read: the partition's filesystem UUID is the volume's and a known file
 * comes back (ext4 mounted, NTFS through ntfs-3g). Needs root (losetup, mount), gdisk, fdisk,
 * e2fsprogs, ntfs-3g: scripts/setup-host.ts --with vm installs them; missing ones fail the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.resolve(import.meta.dirname, '../..');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'compose-file-'));
const loops: string[] = [];
const mounts: string[] = [];
test.after(() => {
  for (const m of mounts.reverse()) spawnSync('umount', [m]);
  for (const l of loops) spawnSync('losetup', ['-d', l]);
  fs.rmSync(dir, { recursive: true, force: true });
});
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
function cli(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(ROOT, 'bin/nbdforge.js'), 'compose', ...args], { encoding: 'utf8' });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const KNOWN = 'nbdforge compose: a known file\n'.repeat(100);
const DISK = '0D15C0DE-0000-4000-8000-000000000001';
const PART = '0D15C0DE-0000-4000-8000-000000000002';

/** The partition as a block device: the kernel's own scan (losetup --partscan) where it has the
 * partition parsers; this machine's kernel has none (CONFIG_MSDOS_PARTITION and CONFIG_EFI_PARTITION
 * unset), so there the offset and size come from sfdisk's reading of the table, never from ours. */
function partitionDevice(file: string): { dev: string; how: string } {
  const d = sh('losetup', ['--find', '--show', '--partscan', '--read-only', file]).trim();
  loops.push(d);
  spawnSync('udevadm', ['settle']);
  if (fs.existsSync(`/sys/block/${path.basename(d)}/${path.basename(d)}p1`) && fs.existsSync(`${d}p1`)) return { dev: `${d}p1`, how: 'losetup --partscan' };
  const m = /start=\s*(\d+), size=\s*(\d+)/.exec(sh('sfdisk', ['--dump', file]));
  assert.ok(m, 'sfdisk --dump lists the partition');
  const p = sh('losetup', ['--find', '--show', '--read-only', '--offset', String(Number(m![1]) * 512), '--sizelimit', String(Number(m![2]) * 512), file]).trim();
  loops.push(p);
  return { dev: p, how: 'losetup --offset/--sizelimit from sfdisk --dump (no partition parsers in this kernel)' };
}
const uuidOf = (dev: string) => sh('blkid', ['-p', '-o', 'value', '-s', 'UUID', dev]).trim();

test('ext4 volume of an odd size -> GPT composite file: sgdisk -v clean, sfdisk/fdisk read it, same fs UUID, known file read back', () => {
  const vol = path.join(dir, 'ext4.vol');
  fs.writeFileSync(vol, '');
  fs.truncateSync(vol, 24 * 1024 * 1024 + 7 * 512 + 100);
  sh('mkfs.ext4', ['-q', '-F', '-L', 'composed', vol]);
  fs.writeFileSync(path.join(dir, 'known.txt'), KNOWN);
  sh('debugfs', ['-w', '-R', `write ${path.join(dir, 'known.txt')} known.txt`, vol]);
  const out = path.join(dir, 'ext4.disk');
  const r = cli(vol, '--to-file', out, '--part-name', 'data', '--disk-guid', DISK, '--part-guid', PART, '--json');
  assert.is(r.code, 0, r.err);
  const j = JSON.parse(r.out);
  const vsec = Math.floor(fs.statSync(vol).size / 512);
  assert.equal(j.file.composite.sectors, { head: 2048, volume: vsec, tail: 33, total: 2048 + vsec + 33 });
  assert.is(fs.statSync(out).size, (2048 + vsec + 33) * 512);
  assert.ok(fs.statSync(out).blocks * 512 < fs.statSync(out).size, 'the output is sparse');

  assert.match(sh('sgdisk', ['-v', out]), /No problems found/);
  const dump = sh('sfdisk', ['--dump', out]);
  assert.match(dump, /label: gpt/);
  assert.match(dump, new RegExp(`label-id: ${DISK}`));
  assert.match(dump, new RegExp(`start=\\s*2048, size=\\s*${vsec}, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=${PART}, name="data"`));
  const fd = sh('fdisk', ['-l', out]);
  assert.match(fd, /Disklabel type: gpt/);
  assert.match(fd, new RegExp(`${path.basename(out)}1\\s+2048\\s+${2048 + vsec - 1}\\s+${vsec}\\s.*Linux filesystem`));

  const { dev, how } = partitionDevice(out);
  console.log(`  partition device: ${how}`);
  assert.is(uuidOf(dev), uuidOf(vol), "the partition's filesystem UUID is the volume's");
  const mnt = path.join(dir, 'mnt-ext4');
  fs.mkdirSync(mnt);
  sh('mount', ['-o', 'ro', dev, mnt]);
  mounts.push(mnt);
  assert.is(fs.readFileSync(path.join(mnt, 'known.txt'), 'utf8'), KNOWN);
  assert.is(sh('debugfs', ['-R', 'cat known.txt', dev]), KNOWN);
});

test('NTFS volume -> MBR composite file (type 0x07): sfdisk/fdisk read it, same fs UUID, known file read back with ntfs-3g', () => {
  const vol = path.join(dir, 'ntfs.vol');
  fs.writeFileSync(vol, '');
  fs.truncateSync(vol, 16 * 1024 * 1024 + 3 * 512);
  sh('mkntfs', ['-F', '-Q', '-q', '-L', 'composed', vol]);
  fs.writeFileSync(path.join(dir, 'known-ntfs.txt'), KNOWN);
  sh('ntfscp', ['-q', vol, path.join(dir, 'known-ntfs.txt'), 'known.txt']);
  const out = path.join(dir, 'ntfs.disk');
  const r = cli(vol, '--to-file', out, '--table', 'mbr', '--type', 'ntfs', '--disk-id', '0x1234abcd');
  assert.is(r.code, 0, r.err);
  assert.match(r.out, /MBR disk/);
  const vsec = Math.floor(fs.statSync(vol).size / 512);
  const dump = sh('sfdisk', ['--dump', out]);
  assert.match(dump, /label: dos/);
  assert.match(dump, /label-id: 0x1234abcd/);
  assert.match(dump, new RegExp(`start=\\s*2048, size=\\s*${vsec}, type=7`));
  assert.match(sh('fdisk', ['-l', out]), /HPFS\/NTFS\/exFAT/);
  const { dev } = partitionDevice(out);
  assert.is(sh('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev]).trim(), 'ntfs');
  assert.is(uuidOf(dev), uuidOf(vol));
  const mnt = path.join(dir, 'mnt-ntfs');
  fs.mkdirSync(mnt);
  sh('ntfs-3g', ['-o', 'ro', dev, mnt]);
  mounts.push(mnt);
  assert.is(fs.readFileSync(path.join(mnt, 'known.txt'), 'utf8'), KNOWN);
  sh('umount', [mnt]);
  mounts.pop();
  assert.is(sh('ntfscat', [dev, 'known.txt']), KNOWN);
});

test('a sparse 3 TiB volume: GPT composite in well under a minute, sgdisk -v clean; MBR refused (exit 3) saying why, no file made', () => {
  const vol = path.join(dir, 'big.vol');
  fs.writeFileSync(vol, '');
  fs.truncateSync(vol, 3 * 2 ** 40);
  const out = path.join(dir, 'big.disk');
  const t0 = Date.now();
  const r = cli(vol, '--to-file', out, '--json');
  assert.is(r.code, 0, r.err);
  assert.ok(Date.now() - t0 < 60_000);
  assert.is(JSON.parse(r.out).file.dataBytes, 0, 'holes are not read or written');
  assert.match(sh('sgdisk', ['-v', out]), /No problems found/);
  fs.rmSync(out);
  const m = cli(vol, '--to-file', out, '--table', 'mbr');
  assert.is(m.code, 3);
  assert.match(m.err, /beyond the 2 TiB MBR limit.*--table gpt/);
  assert.not.ok(fs.existsSync(out));
});

test('refusals, nothing written: already partitioned (names what it found) unless --force, missing volume, smaller than the alignment, OUT exists', () => {
  const disk = path.join(dir, 'ext4.disk');
  const out = path.join(dir, 'nested.disk');
  const p = cli(disk, '--to-file', out);
  assert.is(p.code, 3);
  assert.match(p.err, /already has a GPT partition table \(header at byte 512\).*--force/);
  assert.not.ok(fs.existsSync(out));
  const mbr = cli(path.join(dir, 'ntfs.disk'), '--to-file', out);
  assert.is(mbr.code, 3);
  assert.match(mbr.err, /an MBR partition table \(1: type 0x07, start 2048/);
  assert.is(cli(disk, '--to-file', out, '--force').code, 0);
  assert.match(sh('sgdisk', ['-v', out]), /No problems found/);
  const missing = cli(path.join(dir, 'nope.vol'), '--to-file', path.join(dir, 'x.disk'));
  assert.is(missing.code, 3);
  assert.match(missing.err, /no such volume: .*nope\.vol/);
  const tiny = path.join(dir, 'tiny.vol');
  fs.writeFileSync(tiny, Buffer.alloc(512 * 100));
  const small = cli(tiny, '--to-file', path.join(dir, 'x.disk'));
  assert.is(small.code, 3);
  assert.match(small.err, /smaller than the alignment/);
  assert.is(cli(tiny, '--to-file', path.join(dir, 'x.disk'), '--align', '512').code, 0, 'a one-sector alignment fits it');
  const exists = cli(tiny, '--to-file', out, '--align', '512');
  assert.is(exists.code, 3);
  assert.match(exists.err, /exists.*never overwrites/);
  assert.is(cli(tiny, '--to-file', path.join(dir, 'y.disk'), '--table', 'mbr', '--align', '512', '--part-guid', PART).code, 2, 'a GPT field with MBR is a usage error');
});

test.run();
