/**
 * compose / decompose on a real Debian kernel under QEMU TCG: real device-mapper, loop devices,
 * ext4, ntfs-3g, qemu-nbd. The volumes are virtio disks holding a filesystem directly (no partition
 * table); the real CLI emits each plan as a POSIX script (--emit-script --size) and the guest runs
 * them with its own sh. One boot, every check inside it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { prepareGuest, testReleases, type Guest } from '../../scripts/vm/harness.ts';
import { MAP_TOOLS } from '../../scripts/vm/make-map-images.ts';
import { cli, emitInto } from './helpers.ts';

$.verbose = false;
const ROOT = path.resolve(import.meta.dirname, '../..');
// a boot takes about 90 s on a quiet machine; 220 s was seen at load average 16 on 2 cores
const BOOT_LIMIT_MS = 300_000;
const KNOWN = 'compose-known-content';
const PART = '0D15C0DE-0000-4000-8000-00000000CAFE';
const TOOLS = [...MAP_TOOLS, '/usr/sbin/sfdisk', '/usr/bin/ntfs-3g', '/usr/bin/ntfscat', '/usr/bin/qemu-nbd'];
const MODULES = ['virtio_blk', 'loop', 'ext4', 'fuse'];
let share = '';
let guest: Guest;

const emit = (file: string, ...args: string[]) => emitInto(share, file, ...args);
async function volume(name: string, bytes: number): Promise<string> {
  const f = path.join(share, name);
  await fs.writeFile(f, '');
  await fs.truncate(f, bytes);
  return f;
}

const EXT4_BYTES = 32 * 1024 * 1024 + 5 * 512; // not a multiple of the alignment
const NTFS_BYTES = 24 * 1024 * 1024 + 3 * 512;
const PARTED_BYTES = 8 * 1024 * 1024;

test.before(async () => {
  const { newest } = await testReleases();
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-compose-'));
  const g = prepareGuest({ release: newest, modules: [...MODULES, 'dm-mod'], tools: TOOLS });
  await fs.writeFile(path.join(share, 'known.txt'), KNOWN);
  const ext4 = await volume('ext4.raw', EXT4_BYTES);
  await $`mkfs.ext4 -q -F -L composed ${ext4}`;
  await $`debugfs -w -R ${`write ${path.join(share, 'known.txt')} known.txt`} ${ext4}`;
  const ntfs = await volume('ntfs.raw', NTFS_BYTES);
  await $`mkntfs -F -Q -q -L composed ${ntfs}`;
  await $`ntfscp -q ${ntfs} ${path.join(share, 'known.txt')} known.txt`;
  const parted = await volume('parted.raw', PARTED_BYTES);
  await $`sgdisk -n 1:2048:0 ${parted}`;
  await fs.copy(path.join(ROOT, 'test/vm/map/checks.sh'), path.join(share, 'map-checks.sh'));
  await fs.copy(path.join(ROOT, 'test/vm/guest/compose-checks.sh'), path.join(share, 'checks.sh'));
  const size = (n: number) => ['--size', String(n)];
  await emit('compose-ext4.sh', 'compose', '/dev/vda', '--name', 'cext4', '--part-guid', PART, ...size(EXT4_BYTES));
  await emit('compose-ext4-ro.sh', 'compose', '/dev/vda', '--name', 'cro', '--read-only', ...size(EXT4_BYTES));
  await emit('compose-again.sh', 'compose', '/dev/vdb', '--name', 'cext4', ...size(NTFS_BYTES));
  await emit('compose-ntfs.sh', 'compose', '/dev/vdb', '--name', 'cntfs', '--table', 'mbr', '--type', 'ntfs', '--disk-id', '0x0c0ffee0', ...size(NTFS_BYTES));
  await emit('compose-parted.sh', 'compose', '/dev/vdc', '--name', 'cparted', ...size(PARTED_BYTES));
  await emit('compose-parted-force.sh', 'compose', '/dev/vdc', '--name', 'cparted', '--force', ...size(PARTED_BYTES));
  await emit('compose-missing.sh', 'compose', '/dev/vdz', '--name', 'cmissing', ...size(EXT4_BYTES));
  await emit('compose-wrong-size.sh', 'compose', '/dev/vda', '--name', 'cwrong', ...size(EXT4_BYTES + 512));
  await emit('decompose-ext4.sh', 'decompose', 'cext4');
  await emit('decompose-ro.sh', 'decompose', 'cro');
  await emit('decompose-parted.sh', 'decompose', 'cparted');
  await emit('decompose-all.sh', 'decompose', '--all');
  await emit('export.sh', 'export', '/dev/mapper/cext4', '--format', 'raw', '--read-only', '--persistent', '--port', '10809');
  await emit('export-stop.sh', 'export', '--stop', '/dev/mapper/cext4');
  guest = await g;
  const uuid = async (f: string) => (await $`blkid -p -o value -s UUID ${f}`).stdout.trim();
  const vars = {
    KNOWN,
    PART,
    EXT4_UUID: await uuid(ext4),
    NTFS_UUID: await uuid(ntfs),
    EXT4_V: String(EXT4_BYTES / 512),
    EXT4_DISK: String((2048 + EXT4_BYTES / 512 + 33) * 512),
    NTFS_V: String(NTFS_BYTES / 512),
    NTFS_DISK: String((2048 + NTFS_BYTES / 512) * 512),
  };
  await fs.writeFile(path.join(share, 'vars.sh'), Object.entries(vars).map(([k, v]) => `${k}='${v}'`).join('\n') + '\n');
});

test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('compose in a guest: refusals, ext4 (GPT) read-only and read-write, NTFS (MBR), export, decompose, kill -9 then decompose --all', async () => {
  await fs.copy(path.join(ROOT, 'test/vm/guest/compose-boot.sh'), path.join(share, 'boot.sh'));
  const logFile = path.join(share, 'boot.console.log');
  const drives = ['ext4.raw', 'ntfs.raw', 'parted.raw'].flatMap((f) => ['-drive', `file=${path.join(share, f)},format=raw,if=virtio`]);
  const r = await guest.boot({ share, script: 'boot.sh', modules: MODULES, logFile, timeoutMs: 2 * BOOT_LIMIT_MS, extraArgs: drives });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] compose: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${failed.length} failed, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-6000)}`);
  assert.ok(checks.length > 60, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms (limit ${BOOT_LIMIT_MS})`);
  // the host sees what the guest wrote through the composite's partition
  assert.is((await $`debugfs -R ${'cat written.txt'} ${path.join(share, 'ext4.raw')}`).stdout, 'written-through-the-partition\n');
});

test.run();
