/**
 * A stock CentOS 7.9 host's userland under what nbdforge emits: guests whose /bin/sh is bash 4.2 and
 * whose lvm, dmsetup, losetup, blkid, mount, umount and kmod are CentOS 7.9's versions (static builds
 * of the upstream sources), with the qemu 1.5.3 stand-in for qemu-img and qemu-nbd
 * (scripts/vm/el7-guest.ts). The kernel is the Debian one the other guests boot: what is proven here
 * is the userland, not a CentOS 7 kernel (see docs/map.md, "CentOS 7 hosts").
 *
 * Boot 1: prepare-host (kmod 20), then every read-only map scenario of the Debian guests (LVM clashes,
 * clones, unmap by image / device / --all, images unchanged), then the models of udev's
 * auto-activation and of lvmetad. Boot 2: the --rw scenarios (kill -9 then unmap --all, loop devices,
 * export on TCP; a held image refused by the open-file check, as qemu 1.5 has no locks), export
 * --socket read by a client, and a block device through --loop.
 */
import { test } from 'uvu';
import { $, fs, path, os } from 'zx';
import { testReleases } from '../../scripts/vm/harness.ts';
import { emitPrepareHostScript } from '../../scripts/vm/harness.ts';
import { prepareEl7Guest } from '../../scripts/vm/el7-guest.ts';
import { makeMapImages, MAP_MODULES, type MapImages } from '../../scripts/vm/make-map-images.ts';
import type { Guest } from '../../scripts/vm/harness.ts';
import { ROOT, STORE, CLI, artifactFor, emitInto } from '../vm/helpers.ts';
import { ensureDropbear, freePort, makeKey, sshOptions, guestSshSetup } from '../../scripts/vm/ssh.ts';
import * as assert from 'uvu/assert';
import { stageMapShare, runMapBoot, readOnlyScenario, rwScenario, type Host, type MapBoot } from '../vm/map/scenarios.ts';

$.verbose = false;
// A bound, not a benchmark (as for the Debian map guests).
const BOOT_LIMIT_MS = 180_000;
let share = '';
let guest: Guest;
let imgs: MapImages;
let blk = '';
let release = '';

const EL7_HOST: Host = {
  load: (n) => [
    `run prepare-host-${n} prepare-host-${n}.sh`,
    `check "prepare-host under bash 4.2 with kmod 20: exit 0" [ "$RC" = 0 ]`,
    `check "prepare-host: nbd loaded from extra/, nbds_max=${n} max_part=15 as persisted" sh -c '[ "$(modinfo -n nbd)" = /lib/modules/$(uname -r)/extra/nbd.ko ] && [ "$(cat /sys/module/nbd/parameters/nbds_max) $(cat /sys/module/nbd/parameters/max_part)" = "${n} 15" ]'`,
  ],
  reload: (n) => `rmmod nbd && modprobe nbd nbds_max=${n} max_part=15`,
  locked: [
    // qemu 1.5 has no image locks: a disk another process holds (a running VM) is refused by map's own open-file check
    'cp /share/gpt.qcow2 /tmp/locked.qcow2 && { sleep 900 < /tmp/locked.qcow2 & HOLDER=$!; }',
    'expect_error locked map-locked.sh 1 "is in use by process $HOLDER (sleep)"',
    'expect_clean locked',
    'kill $HOLDER',
  ],
};

const MODELS = [
  '. /share/el7-models.sh',
  // udev auto-activates the image's VG read-write before map's LVM step
  'SHA_DOS=$(sha /share/dos.qcow2)',
  'udev_model_on',
  'run udev map-dos.sh',
  'udev_model_off',
  'check "udev model: the VG really was auto-activated before the LVM step" grep -q "auto-activated the VGs on nbd0" /tmp/udev-model.log',
  'check "udev model: map exit 0" [ "$RC" = 0 ]',
  'check "udev model: map tells people it deactivated the auto-activated VG" said udev "was already active (auto-activated?): deactivated it"',
  'check "udev model: the LV is now active read-only, as map says" [ "$(blockdev --getro /dev/mapper/vg0-root)" = 1 ]',
  'check "udev model: its content read" content /mnt/nbdforge/dos/vg0-root/hello.txt "$DOS_LV"',
  'check "udev model: the journal records the deactivation" grep -q "\\"kind\\":\\"deactivated\\"" $STATE/maps/*.jsonl',
  'run udev-unmap unmap-all.sh',
  'expect_clean udev-unmap',
  'check "udev model: dos.qcow2 unchanged" [ "$(sha /share/dos.qcow2)" = "$SHA_DOS" ]',
  // lvmetad runs: our LVM commands bypass its cache, and the touched PVs are rescanned into it
  'lvmetad_model_on',
  'run lvmetad-dos map-dos.sh; run lvmetad-clone map-clone.sh',
  'check "lvmetad model: both maps done (the clone imported under new UUIDs)" [ "$(connected)" = 2 -a -b /dev/mapper/vg0_nbd1-root ]',
  'check "lvmetad model: every LVM command of the maps bypassed lvmetad (use_lvmetad=0)" lvmetad_bypassed',
  'R1=$(lvmetad_rescans)',
  'check "lvmetad model: the maps rescanned their PVs into lvmetad (pvscan --cache MAJ:MIN)" [ "$R1" -ge 2 ]',
  'run lvmetad-unmap unmap-all.sh',
  'check "lvmetad model: unmap bypassed lvmetad too" lvmetad_bypassed',
  'check "lvmetad model: unmap rescanned the PVs that went away" [ "$(lvmetad_rescans)" -gt "$R1" ]',
  'check "lvmetad model: no lvmetad warnings from map or unmap" sh -c "! grep -qi lvmetad /tmp/lvmetad-*.out /tmp/lvmetad-*.err"',
  'lvmetad_model_off',
  'expect_clean lvmetad-unmap',
];

const MORE_PATHS = [
  // export --socket: qemu-nbd 1.5 has no --fork: the script backgrounds it, records its pid, waits for the socket
  'run export-sock export-sock.sh',
  'check "export --socket: exit 0" [ "$RC" = 0 ]',
  'check "export --socket: prints the nbd+unix URL" said export-sock "serving /share/gpt.qcow2 at nbd+unix:///?socket=/tmp/nbd.sock"',
  'SPID=$(cat $STATE/maps/*.pid)',
  'check "export --socket: the server runs in the background, its pid recorded" grep -q qemu-nbd /proc/$SPID/cmdline',
  'check "export --socket: a client reads the whole disk through the socket, equal to the image" qemu-img compare -q -f raw -F qcow2 "nbd+unix:///?socket=/tmp/nbd.sock" /share/gpt.qcow2',
  'run export-sock-stop unmap-all.sh',
  'check "export --socket: unmap --all exit 0, the server stopped, the socket removed" [ "$RC" = 0 -a ! -e /proc/$SPID -a ! -e /tmp/nbd.sock ]',
  'expect_clean export-sock-stop',
  // a block device (/dev/vda, a virtio disk) through --loop: format from qemu-img info without -U
  'SHA_BLK=$(sha /dev/vda)',
  'run blk map-blk.sh',
  'check "--loop /dev/vda: exit 0, on a loop device" [ "$RC" = 0 -a "$(loops)" = 1 -a "$(connected)" = 0 ]',
  'check "--loop /dev/vda: its format found (raw) by qemu-img 1.5 without -U" grep -q "\\"format\\":\\"raw\\"" $STATE/maps/*.jsonl',
  'check "--loop /dev/vda: p1 read" content /mnt/nbdforge/vda/p1/hello.txt blk-p1-content',
  'run blk-unmap unmap-all.sh',
  'expect_clean blk-unmap',
  'check "--loop /dev/vda: the device is unchanged" [ "$(sha /dev/vda)" = "$SHA_BLK" ]',
];

const mb = (more: Partial<MapBoot> = {}): MapBoot => ({ guest, share, imgs, limitMs: BOOT_LIMIT_MS, ...more });

test.before(async () => {
  const { newest } = await testReleases();
  release = newest;
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-el7-'));
  const [, images, g] = await Promise.all([artifactFor(newest), makeMapImages({ release: newest }), prepareEl7Guest({ release: newest, modules: [...MAP_MODULES, 'virtio_blk'] })]);
  imgs = images;
  guest = g;
  await stageMapShare(share, imgs);
  await fs.copy(path.join(ROOT, 'test/vm/map/el7-models.sh'), path.join(share, 'el7-models.sh'));
  for (const n of [2, 8]) await emitPrepareHostScript({ store: STORE, release: newest, file: path.join(share, `prepare-host-${n}.sh`), options: `nbds_max=${n} max_part=15` });
  await emitInto(share, 'export-sock.sh', 'export', '/share/gpt.qcow2', '--socket', '/tmp/nbd.sock', '--read-only', '--persistent');
  await emitInto(share, 'map-blk.sh', 'map', '--loop', '/dev/vda');
  // the block device: a DOS label, p1 ext4 holding hello.txt (outside the share: QEMU opens it as a disk)
  blk = path.join(share, '..', `${path.basename(share)}-blk.raw`);
  const content = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-blk-'));
  await fs.writeFile(path.join(content, 'hello.txt'), 'blk-p1-content\n');
  await $`truncate -s 48M ${blk}`;
  await $({ input: 'label: dos\nstart=2048, size=32768, type=83\n' })`sfdisk -q ${blk}`;
  await $`mkfs.ext4 -q -F -L blk-p1 -d ${content} ${blk}.p1 16M`;
  await $`dd if=${blk}.p1 of=${blk} bs=1M seek=1 conv=notrunc status=none`;
  await fs.remove(`${blk}.p1`);
  await fs.remove(content);
});

test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
  if (blk) await fs.remove(blk);
});

test('CentOS 7.9 userland: prepare-host (kmod 20), read-only maps (LVM clashes, clones, images unchanged), udev auto-activation and lvmetad modelled', async () => {
  await runMapBoot(mb({ modules: MAP_MODULES }), 'el7-a.sh', [...readOnlyScenario(EL7_HOST), ...MODELS]);
});

test('CentOS 7.9 userland: --rw, a held image refused, kill -9 then unmap --all, loop, export on TCP and on a unix socket, a block device through --loop', async () => {
  await runMapBoot(mb({ modules: [...MAP_MODULES, 'virtio_blk'], extraArgs: ['-drive', `file=${blk},format=raw,if=virtio`] }), 'el7-b.sh', [...rwScenario(EL7_HOST), ...MORE_PATHS]);
});

test('CentOS 7.9 userland over ssh (its sh is bash 4.2): prepare-host --ssh, map --ssh --json, unmap --ssh --all', async () => {
  const g = await prepareEl7Guest({ release, modules: [...MAP_MODULES, 'virtio_net'], tools: [await ensureDropbear()] });
  const { key } = await makeKey(share);
  const port = await freePort();
  await fs.writeFile(
    path.join(share, 'el7-ssh.sh'),
    [`DOS_LV=${imgs.content.dosLv}`, '. /share/checks.sh', guestSshSetup('id.pub'),
      'i=0; while [ ! -e /share/host-done ] && [ $i -lt 3000 ]; do sleep 0.1; i=$((i + 1)); done',
      'check "the host side finished" [ -e /share/host-done ]',
      'expect_clean "after unmap --ssh --all"', 'finish', ''].join('\n'),
  );
  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const booting = g.boot({ share, script: 'el7-ssh.sh', modules: [...MAP_MODULES, 'virtio_net'], forwards: [{ hostPort: port, guestPort: 22 }], logFile: path.join(share, 'el7-ssh.console.log'), timeoutMs: 3 * BOOT_LIMIT_MS, onLine: (l) => l.includes('NBDFORGE-SSH-READY') && ready() });
  await Promise.race([isReady, booting.then((r) => assert.unreachable(`guest ended before ssh was ready:\n${r.console.slice(-3000)}`))]);
  const opts = sshOptions(key, port).flatMap((o) => ['--ssh-option', o]);
  const nb = (...a: string[]) => $({ cwd: ROOT, nothrow: true, quiet: true })`node ${CLI} ${a}`;
  try {
    const ph = await nb('prepare-host', '--from', STORE, '--ssh', 'root@127.0.0.1', ...opts);
    assert.is(ph.exitCode, 0, ph.stdout + ph.stderr);
    assert.match(ph.stdout, /^result: changed \(/m);
    const map = await nb('map', '/share/dos.qcow2', '--ssh', 'root@127.0.0.1', ...opts, '--json');
    assert.is(map.exitCode, 0, map.stdout + map.stderr);
    const report = JSON.parse(map.stdout);
    assert.is(report.result.outcome, 'changed');
    assert.match(JSON.stringify(report.map), /\/mnt\/nbdforge\/dos\/vg0-root/);
    const read = await $({ nothrow: true, quiet: true })`ssh ${sshOptions(key, port).flatMap((o) => ['-o', o])} root@127.0.0.1 cat /mnt/nbdforge/dos/vg0-root/hello.txt`;
    assert.is(read.stdout.trim(), imgs.content.dosLv, read.stderr);
    const un = await nb('unmap', '--all', '--ssh', 'root@127.0.0.1', ...opts, '--json');
    assert.is(un.exitCode, 0, un.stdout + un.stderr);
    assert.is(JSON.parse(un.stdout).result.outcome, 'changed');
  } finally {
    await fs.writeFile(path.join(share, 'host-done'), '');
  }
  const r = await booting;
  const failed = r.console.split('\n').filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] el7-ssh.sh: exit ${r.exitCode}, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `${failed.join('\n')}\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms`);
});

test.run();
