#!/usr/bin/env tsx
/**
 * Disk images for the map tests, made once and cached by a hash of this file and the guest kernel:
 *   dos.qcow2  DOS label: p1 ext4 "dos-p1" (made on the host), p2 LVM PV of VG vg0 / LV root (ext4 "dos-lv")
 *   gpt.qcow2  GPT label: p1 ext4 "gpt-p1", p2 LVM PV of another VG also named vg0 / LV root (ext4 "gpt-lv")
 *   dos.raw    the DOS image as raw (loop device tests)
 *   fs.qcow2   GPT label: p1 ext4 "fs-p1" left mounted at the setup guest's power-off (its journal
 *              needs recovery; dirty.txt was written while mounted), p2 XFS "fs-p2" (300 MiB, the
 *              smallest mkfs.xfs makes); a byte-identical copy of it is an XFS clone (same UUID)
 * Partition tables and plain filesystems come from sfdisk and mkfs.ext4 -d on the host (no loop or dm
 * needed); the LVM content needs device-mapper, so a setup guest boot makes it (as the shell
 * prototype's make-images.sh did). Each filesystem holds hello.txt naming where it is.
 *
 *   tsx scripts/vm/make-map-images.ts [--kernel RELEASE]   -> prints the directory
 */
import { $, fs, path, os } from 'zx';
import { createHash } from 'node:crypto';
import { prepareGuest, vmCacheDir, testReleases } from './harness.ts';

export interface MapImages {
  dir: string;
  dos: string;
  gpt: string;
  dosRaw: string;
  fs: string;
  /** What each filesystem's hello.txt says. */
  content: Record<'dosP1' | 'dosLv' | 'gptP1' | 'gptLv' | 'fsP1' | 'fsDirty' | 'fsXfs', string>;
}

export const MAP_TOOLS = ['/usr/sbin/lvm', '/usr/sbin/dmsetup', '/usr/sbin/blkid', '/usr/bin/mount', '/usr/bin/umount', '/usr/sbin/blockdev', '/usr/sbin/losetup', '/usr/bin/qemu-img', '/usr/sbin/mke2fs'];
export const MAP_MODULES = ['dm-mod', 'ext4', 'xfs', 'loop'];

const CONTENT = { dosP1: 'dos-p1-content', dosLv: 'dos-lv-root-content', gptP1: 'gpt-p1-content', gptLv: 'gpt-lv-root-content', fsP1: 'fs-p1-content', fsDirty: 'written-while-mounted', fsXfs: 'fs-xfs-content' };
const LVM_TYPE_GPT = 'E6D6D379-F507-44C2-A23C-238F2A3DF928';

// Runs in the setup guest: vda = dos.raw, vdb = gpt.raw. Each disk's VG is made with LVM seeing only
// that disk, so both can be called vg0.
const SETUP = `set -e
cfg() { echo "devices { filter=[ \\"a|^$1\\$|\\", \\"r|.*|\\" ] use_devicesfile=0 obtain_device_list_from_udev=0 } activation { udev_sync=0 udev_rules=0 monitoring=0 } global { event_activation=0 } backup { backup=0 archive=0 }"; }
i=0; while [ ! -b /dev/vdb2 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
for d in vda2:lv1:dos-lv vdb2:lv2:gpt-lv; do
  dev=/dev/\${d%%:*}; r=\${d#*:}; dir=\${r%%:*}; label=\${r#*:}
  C=$(cfg "$dev")
  lvm pvcreate --config "$C" -y -ff "$dev"
  lvm vgcreate --config "$C" vg0 "$dev"
  lvm lvcreate --config "$C" -y -n root -l 100%FREE vg0
  mke2fs -q -t ext4 -L "$label" -d "/share/$dir" /dev/vg0/root
  lvm vgchange --config "$C" -an vg0
done
# vdc = fs.raw: content into the XFS (mkfs on the host cannot fill it), then a write to the ext4 that
# is never unmounted: the power-off leaves its journal needing recovery
mkdir -p /mnt/x /mnt/e
mount -t xfs /dev/vdc2 /mnt/x
echo ${CONTENT.fsXfs} > /mnt/x/hello.txt
umount /mnt/x
mount -t ext4 /dev/vdc1 /mnt/e
echo ${CONTENT.fsDirty} > /mnt/e/dirty.txt
sync
echo SETUP-DONE
`;

export async function makeMapImages(opts: { release?: string; cacheDir?: string } = {}): Promise<MapImages> {
  const release = opts.release ?? (await testReleases()).newest;
  const cacheDir = opts.cacheDir ?? vmCacheDir();
  const self = await fs.readFile(new URL(import.meta.url), 'utf8');
  const key = createHash('sha256').update(JSON.stringify({ self, release })).digest('hex').slice(0, 16);
  const dir = path.join(cacheDir, 'map-images', key);
  const out: MapImages = { dir, dos: path.join(dir, 'dos.qcow2'), gpt: path.join(dir, 'gpt.qcow2'), dosRaw: path.join(dir, 'dos.raw'), fs: path.join(dir, 'fs.qcow2'), content: CONTENT };
  if (await fs.pathExists(path.join(dir, '.complete'))) return out;

  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-map-images-'));
  try {
    const w = (f: string) => path.join(work, f);
    for (const [d, text] of [['p1dos', CONTENT.dosP1], ['p1gpt', CONTENT.gptP1], ['lv1', CONTENT.dosLv], ['lv2', CONTENT.gptLv], ['p1fs', CONTENT.fsP1]]) {
      await fs.mkdirp(w(d));
      await fs.writeFile(path.join(w(d), 'hello.txt'), `${text}\n`);
    }
    // dos: 128 MiB, p1 32 MiB ext4 at 1 MiB, p2 the rest (LVM)
    await $`truncate -s 128M ${w('dos.raw')}`;
    await $({ input: 'label: dos\nstart=2048, size=65536, type=83\nstart=67584, type=8e\n' })`sfdisk -q ${w('dos.raw')}`;
    await $`mkfs.ext4 -q -F -L dos-p1 -d ${w('p1dos')} ${w('p1dos.ext4')} 32M`;
    await $`dd if=${w('p1dos.ext4')} of=${w('dos.raw')} bs=1M seek=1 conv=notrunc status=none`;
    // gpt: 96 MiB, p1 16 MiB ext4 at 1 MiB, p2 the rest (LVM)
    await $`truncate -s 96M ${w('gpt.raw')}`;
    await $({ input: `label: gpt\nstart=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nstart=34816, type=${LVM_TYPE_GPT}\n` })`sfdisk -q ${w('gpt.raw')}`;
    await $`mkfs.ext4 -q -F -L gpt-p1 -d ${w('p1gpt')} ${w('p1gpt.ext4')} 16M`;
    await $`dd if=${w('p1gpt.ext4')} of=${w('gpt.raw')} bs=1M seek=1 conv=notrunc status=none`;
    // fs: 320 MiB, p1 16 MiB ext4, p2 XFS on the rest
    await $`truncate -s 320M ${w('fs.raw')}`;
    await $({ input: 'label: gpt\nstart=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\nstart=34816, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n' })`sfdisk -q ${w('fs.raw')}`;
    await $`mkfs.ext4 -q -F -L fs-p1 -d ${w('p1fs')} ${w('p1fs.ext4')} 16M`;
    await $`dd if=${w('p1fs.ext4')} of=${w('fs.raw')} bs=1M seek=1 conv=notrunc status=none`;
    const p2 = (await $`sfdisk -J ${w('fs.raw')}`).stdout;
    const size = (JSON.parse(p2).partitiontable.partitions[1].size as number) * 512;
    await $`truncate -s ${size} ${w('p2fs.xfs')}`;
    await $`mkfs.xfs -q -f -L fs-p2 ${w('p2fs.xfs')}`;
    await $`dd if=${w('p2fs.xfs')} of=${w('fs.raw')} bs=1M seek=17 conv=notrunc,sparse status=none`;
    await fs.writeFile(w('setup.sh'), SETUP);

    const guest = await prepareGuest({ release, cacheDir, modules: MAP_MODULES.concat('virtio_blk'), tools: MAP_TOOLS });
    const r = await guest.boot({
      share: work,
      script: 'setup.sh',
      modules: ['dm-mod', 'ext4', 'xfs', 'virtio_blk'],
      timeoutMs: 180_000,
      extraArgs: ['-drive', `file=${w('dos.raw')},format=raw,if=virtio`, '-drive', `file=${w('gpt.raw')},format=raw,if=virtio`, '-drive', `file=${w('fs.raw')},format=raw,if=virtio`],
    });
    if (r.exitCode !== 0 || !r.console.includes('SETUP-DONE')) throw new Error(`map image setup boot failed (exit ${r.exitCode}):\n${r.console.slice(-3000)}`);

    // the point of fs.raw's p1: the power-off left its journal needing recovery
    await $`dd if=${w('fs.raw')} of=${w('p1check.ext4')} bs=1M skip=1 count=16 status=none`;
    const features = (await $({ quiet: true, nothrow: true })`dumpe2fs -h ${w('p1check.ext4')}`).stdout;
    if (!/Filesystem features:.*needs_recovery/.test(features)) throw new Error(`fs.raw p1 was expected to need journal recovery:\n${features.slice(0, 1500)}`);

    const tmp = `${dir}.tmp-${process.pid}`;
    await fs.remove(tmp);
    await fs.mkdirp(tmp);
    await $`qemu-img convert -f raw -O qcow2 ${w('dos.raw')} ${path.join(tmp, 'dos.qcow2')}`;
    await $`qemu-img convert -f raw -O qcow2 ${w('gpt.raw')} ${path.join(tmp, 'gpt.qcow2')}`;
    await $`qemu-img convert -f raw -O qcow2 ${w('fs.raw')} ${path.join(tmp, 'fs.qcow2')}`;
    await $`cp --sparse=always ${w('dos.raw')} ${path.join(tmp, 'dos.raw')}`;
    await fs.writeFile(path.join(tmp, '.complete'), `${new Date().toISOString()} ${release}\n`);
    await fs.remove(dir);
    await fs.mkdirp(path.dirname(dir));
    await fs.rename(tmp, dir);
    // images made by an older version of this script are no longer used
    for (const old of await fs.readdir(path.dirname(dir))) if (old !== key && /^[0-9a-f]{16}$/.test(old)) await fs.remove(path.join(path.dirname(dir), old));
    return out;
  } finally {
    await fs.remove(work);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  $.verbose = false;
  const i = process.argv.indexOf('--kernel');
  const imgs = await makeMapImages({ release: i > 0 ? process.argv[i + 1] : undefined });
  console.log(imgs.dir);
}
