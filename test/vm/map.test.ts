/**
 * map / unmap / export on a real Debian kernel under QEMU TCG: real qemu-nbd, LVM, device-mapper,
 * loop devices. The real CLI emits each plan as a POSIX script (--emit-script); the guest runs them
 * with its own sh, nbd.ko comes from the build pipeline's store. Two boots, many scenarios each.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $ } from 'zx';
import type { Guest } from '../../scripts/vm/harness.ts';
import { makeMapImages, type MapImages } from '../../scripts/vm/make-map-images.ts';
import { emitInto } from './helpers.ts';
import { mapShare, dropShare } from './map/share.ts';
import { stageMapShare, runMapBoot, readOnlyScenario, rwScenario, DEBIAN_HOST, type MapBoot } from './map/scenarios.ts';

$.verbose = false;
// A bound, not a benchmark: a loaded 2-core machine has stretched a 50 s boot to 130 s (figures: docs/BENCHMARKS.md).
const BOOT_LIMIT_MS = 180_000;
let share = '';
let guest: Guest;
let imgs: MapImages;

const emit = (file: string, ...args: string[]) => emitInto(share, file, ...args);
const mb = (): MapBoot => ({ guest, share, imgs, limitMs: BOOT_LIMIT_MS });
const boot = (name: string, body: string[], minChecks = 20) => runMapBoot(mb(), name, body, minChecks);


test.before(async () => {
  const m = await mapShare({ tag: 'map', alongside: (_share, newest) => makeMapImages({ release: newest }) });
  ({ share, guest, made: imgs } = m);
  await stageMapShare(share, imgs);
  const s = (f: string) => `/share/${f}`;
  // journals on the share survive the guest's power-off: a reboot between map and unmap
  await emit('map-dos-s.sh', 'map', '--state-dir', '/share/state', s('dos.qcow2'));
  await emit('map-rw2-s.sh', 'map', '--rw', '--state-dir', '/share/state', s('rw2.qcow2'));
  await emit('unmap-all-s.sh', 'unmap', '--all', '--state-dir', '/share/state');
  await emit('map-rw2-ro.sh', 'map', s('rw2.qcow2'));
});

test.after(() => dropShare(share));

test('read-only maps: no nbd module, bad input, DOS + GPT with LVM, two VGs named vg0 at once, no free device, a byte-identical clone, unmap by image / device / --all, dirty ext4, XFS clone, --snapshot, images unchanged', async () => {
  await boot('boot-a.sh', readOnlyScenario(DEBIAN_HOST));
});

test('--rw: a clone refused, a renamed VG renamed back, writes kept, a locked image, kill -9 midway then unmap --all, loop devices, export', async () => {
  await boot('boot-b.sh', rwScenario(DEBIAN_HOST));
});

test('reboot between map and unmap: journals on disk, a --rw rename is taken back by attaching the image again', async () => {
  await boot(
    'boot-c1.sh',
    [
      'insmod /share/nbd.ko nbds_max=8 max_part=15',
      'run dos-s map-dos-s.sh; run rw2-s map-rw2-s.sh',
      'check "before the reboot: --rw map renamed its clashing vg0 to vg0_nbd1 in the image" vg_active vg0_nbd1',
      'check "before the reboot: two journals in /share/state" [ "$(ls /share/state/maps/ | grep -c jsonl)" = 2 ]',
      'echo written-before-reboot > /mnt/nbdforge/rw2/p1/reboot.txt',
      'sync',
      'echo "--- powering off with both images mapped"',
    ],
    1,
  );
  await boot('boot-c2.sh', [
    'insmod /share/nbd.ko nbds_max=8 max_part=15',
    'check "after the reboot: nothing connected, the journals are there" [ "$(connected)" = 0 -a "$(ls /share/state/maps/ | grep -c jsonl)" = 2 ]',
    'run unmap-reboot unmap-all-s.sh',
    'check "unmap --all after the reboot: exit 0" [ "$RC" = 0 ]',
    'check "unmap --all after the reboot: renamed the VG back, attaching the image again" said unmap-reboot "renamed VG vg0_nbd1 back to vg0 in /share/rw2.qcow2 (attached again"',
    'check "unmap --all after the reboot: journals gone" [ "$(ls /share/state/maps/ | grep -c jsonl)" = 0 ]',
    'check "unmap --all after the reboot: nothing connected, no dm device" [ "$(connected)" = 0 -a "$(dmcount)" = 0 ]',
    'run rw2-again map-rw2-ro.sh',
    'check "mapped again: the VG is vg0 in the image" vg_active vg0',
    'check "mapped again: the write made before the reboot is there" content /mnt/nbdforge/rw2/p1/reboot.txt written-before-reboot',
    'run rw2-again-unmap unmap-all.sh',
    'expect_clean rw2-again-unmap',
  ], 10);
});

test.run();
