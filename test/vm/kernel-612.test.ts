/**
 * The 6.12 line on a real guest: Debian's newest linux-image-6.12.N+deb12-amd64 under QEMU TCG, its
 * modules xz-compressed (.ko.xz, loaded by the guest's kmod) and its shipped nbd.ko.xz removed. One
 * boot: prepare-host's emitted script installs and loads the module the real build made for that
 * kernel, then one map of an image with LVM and its unmap, as the real CLI emits them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { prepareGuest, newestRelease, type Guest } from '../../scripts/vm/harness.ts';
import { makeMapImages, MAP_MODULES, MAP_TOOLS, type MapImages } from '../../scripts/vm/make-map-images.ts';
import { ROOT, STORE, CLI, artifactFor, type Artifact } from './helpers.ts';

$.verbose = false;
const BOOT_LIMIT_MS = 90_000;
let share = '';
let guest: Guest;
let art: Artifact;
let imgs: MapImages;

async function emit(file: string, ...args: string[]): Promise<void> {
  const r = await $({ cwd: ROOT, nothrow: true, quiet: true })`node ${CLI} ${args} --emit-script ${path.join(share, file)}`;
  assert.is(r.exitCode, 0, `nbdforge ${args.join(' ')} --emit-script failed: ${r.stderr}${r.stdout}`);
}

test.before(async () => {
  const release = await newestRelease('6.12');
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-612-'));
  art = await artifactFor(release);
  // the map images are made once (on the default 6.1 guest) and cached: the disks do not depend on the kernel reading them
  [imgs, guest] = await Promise.all([makeMapImages({}), prepareGuest({ release, modules: MAP_MODULES, tools: MAP_TOOLS })]);
  await $`cp --sparse=always ${imgs.dos} ${path.join(share, 'dos.qcow2')}`;
  await emit('prepare.sh', 'prepare-host', '--from', STORE, '--kernel', release);
  await emit('map-dos.sh', 'map', '/share/dos.qcow2');
  await emit('unmap-all.sh', 'unmap', '--all');
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  await fs.copy(path.join(ROOT, 'test/vm/map/checks.sh'), path.join(share, 'checks.sh'));
});

test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('6.12 guest: .ko.xz modules load, no shipped nbd; prepare-host installs and loads ours from extra/; a DOS+LVM image maps, reads, unmaps clean, unchanged', async () => {
  const k = guest.kernel.release;
  const c = imgs.content;
  const body = [
    `KREL=${k}`,
    `ART_SHA=${art.sha}`,
    `DOS_P1=${c.dosP1}`,
    `DOS_LV=${c.dosLv}`,
    '. /share/prepare-host-checks.sh',
    '. /share/checks.sh',
    'check "kernel is $KREL" [ "$(uname -r)" = "$KREL" ]',
    'check "dm-mod was loaded at boot from a .ko.xz" sh -c "grep -q \'^dm_mod \' /proc/modules && modinfo -n dm-mod | grep -q \'\\.ko\\.xz\\$\'"',
    'check "ext4 resolves to a .ko.xz" sh -c "modinfo -n ext4 | grep -q \'\\.ko\\.xz\\$\'"',
    'check "no shipped nbd module in the tree, nbd not loaded" sh -c "! find /lib/modules -name \'nbd.ko*\' | grep -q . && [ ! -d /sys/module/nbd ]"',
    'SHA_DOS=$(sha /share/dos.qcow2)',
    'expect_installed prepare prepare.sh',
    'run dos map-dos.sh',
    'check "map: exit 0" [ "$RC" = 0 ]',
    'check "map: one nbd device connected" [ "$(connected)" = 1 ]',
    'check "map: p1 (ext4 on a DOS partition) read" content /mnt/nbdforge/dos/p1/hello.txt "$DOS_P1"',
    'check "map: VG vg0 active, LV root read" sh -c \'[ -b /dev/mapper/vg0-root ] && [ "$(cat /mnt/nbdforge/dos/vg0-root/hello.txt)" = "$1" ]\' sh "$DOS_LV"',
    'check "map: mounted read-only" mopt /mnt/nbdforge/dos/p1 ro,',
    'run unmap unmap-all.sh',
    'check "unmap --all: exit 0" [ "$RC" = 0 ]',
    'expect_clean unmap',
    'check "the read-only map left dos.qcow2 unchanged (sha256)" [ "$(sha /share/dos.qcow2)" = "$SHA_DOS" ]',
    'finish',
    '',
  ];
  await fs.writeFile(path.join(share, 'boot.sh'), body.join('\n'));
  const logFile = path.join(share, 'boot.sh.console.log');
  const r = await guest.boot({ share, script: 'boot.sh', modules: MAP_MODULES, logFile, timeoutMs: 3 * BOOT_LIMIT_MS });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${k} boot.sh: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${failed.length} failed, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest ${k}: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-5000)}`);
  assert.ok(checks.length > 25, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms (limit ${BOOT_LIMIT_MS})`);
});

test.run();
