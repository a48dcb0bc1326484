/**
 * The map/unmap/export scenarios the vm tier runs in a guest, shared by the Debian guests
 * (test/vm/map.test.ts) and the CentOS 7 userland guests (test/vm/el7-host.test.ts): the same
 * checks, with what differs between the two hosts (how nbd gets loaded, how a held image is refused)
 * given by a Host. The checks themselves are test/vm/map/checks.sh.
 */
import * as assert from 'uvu/assert';
import { $, fs, path } from 'zx';
import type { Guest } from '../../../scripts/vm/harness.ts';
import type { MapImages } from '../../../scripts/vm/make-map-images.ts';
import { MAP_MODULES } from '../../../scripts/vm/make-map-images.ts';
import { emitInto } from '../helpers.ts';

const ROOT = path.resolve(import.meta.dirname, '../../..');

export interface Host {
  /** Lines that load nbd with N devices (max_part=15) at the start of a boot. */
  load(n: number): string[];
  /** A line that reloads nbd with N devices. */
  reload(n: number): string;
  /** Lines proving that an image another process holds is refused, with nothing left behind. */
  locked: string[];
}

/** Debian 12 guests: nbd.ko from the share by insmod; qemu's own image locks refuse a held image. */
export const DEBIAN_HOST: Host = {
  load: (n) => [`insmod /share/nbd.ko nbds_max=${n} max_part=15`],
  reload: (n) => `rmmod nbd && insmod /share/nbd.ko nbds_max=${n} max_part=15`,
  locked: [
    // an image a writer holds: qemu's image locks refuse the map
    'cp /share/gpt.qcow2 /tmp/locked.qcow2 && qemu-nbd --fork --persistent --socket=/tmp/lock.sock --pid-file=/tmp/lock.pid /tmp/locked.qcow2',
    'expect_error locked map-locked.sh 1 "is locked by another process"',
    'expect_clean locked',
    'kill "$(cat /tmp/lock.pid)"',
  ],
};

export interface MapBoot {
  guest: Guest;
  share: string;
  imgs: MapImages;
  /** A bound on one boot's wall time, not a benchmark. */
  limitMs: number;
  /** QEMU arguments beyond the harness's (extra disks). */
  extraArgs?: string[];
  modules?: string[];
}

/** Images, the checks library and every emitted map/unmap/export script the scenarios run, into the share. */
export async function stageMapShare(share: string, imgs: MapImages): Promise<void> {
  for (const [src, dst] of [[imgs.dos, 'dos.qcow2'], [imgs.gpt, 'gpt.qcow2'], [imgs.dos, 'clone.qcow2'], [imgs.gpt, 'rw.qcow2'], [imgs.gpt, 'rw2.qcow2'], [imgs.fs, 'fs.qcow2'], [imgs.fs, 'fsclone.qcow2'], [imgs.dosRaw, 'dos.raw']]) await $`cp --sparse=always ${src} ${path.join(share, dst)}`;
  await fs.writeFile(path.join(share, 'notimage.txt'), 'this is a text file, not a disk image\n'.repeat(100));
  await fs.copy(path.join(ROOT, 'test/vm/map/checks.sh'), path.join(share, 'checks.sh'));
  const s = (f: string) => `/share/${f}`;
  const emit = (file: string, ...args: string[]) => emitInto(share, file, ...args);
  await emit('map-dos.sh', 'map', s('dos.qcow2'));
  await emit('map-gpt.sh', 'map', s('gpt.qcow2'));
  await emit('map-clone.sh', 'map', s('clone.qcow2'));
  await emit('map-missing.sh', 'map', s('missing.qcow2'));
  await emit('map-notimage.sh', 'map', s('notimage.txt'));
  await emit('map-rw.sh', 'map', '--rw', s('rw.qcow2'));
  await emit('map-rw-ro.sh', 'map', s('rw.qcow2'));
  await emit('map-rw-clone.sh', 'map', '--rw', s('clone.qcow2'));
  await emit('map-fs.sh', 'map', s('fs.qcow2'));
  await emit('map-fsclone.sh', 'map', s('fsclone.qcow2'));
  await emit('map-fs-snap.sh', 'map', '--snapshot', s('fs.qcow2'));
  await emit('map-locked.sh', 'map', '/tmp/locked.qcow2');
  await emit('map-loop.sh', 'map', '--loop', s('dos.raw'));
  await emit('map-loop-offset.sh', 'map', '--loop', '--offset', '2048s', s('dos.raw'));
  await emit('unmap-all.sh', 'unmap', '--all');
  await emit('unmap-clone.sh', 'unmap', s('clone.qcow2'));
  await emit('unmap-nbd1.sh', 'unmap', '/dev/nbd1');
  await emit('unmap-missing.sh', 'unmap', s('gpt.qcow2'));
  await emit('export-gpt.sh', 'export', s('gpt.qcow2'), '--persistent', '--read-only', '--port', '10809');
  await emit('export-stop.sh', 'export', '--stop', s('gpt.qcow2'));
}

/** One boot: BODY after checks.sh, which must all pass (and more than MIN_CHECKS of them run). */
export async function runMapBoot(b: MapBoot, name: string, body: string[], minChecks = 20): Promise<string> {
  const c = b.imgs.content;
  const vars = [`DOS_P1=${c.dosP1}`, `DOS_LV=${c.dosLv}`, `GPT_P1=${c.gptP1}`, `GPT_LV=${c.gptLv}`, `FS_P1=${c.fsP1}`, `FS_DIRTY=${c.fsDirty}`, `FS_XFS=${c.fsXfs}`];
  await fs.writeFile(path.join(b.share, name), [...vars, '. /share/checks.sh', ...body, 'finish', ''].join('\n'));
  const logFile = path.join(b.share, `${name}.console.log`);
  const r = await b.guest.boot({ share: b.share, script: name, modules: b.modules ?? MAP_MODULES, logFile, timeoutMs: 3 * b.limitMs, extraArgs: b.extraArgs });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${name}: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${failed.length} failed, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest ${name}: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-5000)}`);
  assert.ok(checks.length > minChecks, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < b.limitMs, `boot took ${r.wallMs} ms (limit ${b.limitMs})`);
  return r.console;
}

/**
 * Read-only maps: no nbd module, bad input, DOS + GPT with LVM, two VGs named vg0 at once, no free
 * device, a byte-identical clone, unmap by image / device / --all, dirty ext4, XFS clone, --snapshot,
 * images unchanged.
 */
export function readOnlyScenario(h: Host): string[] {
  return [
  'expect_error no-nbd map-dos.sh 3 "nbdforge prepare-host"',
  'expect_clean no-nbd',
  ...h.load(2),
  'expect_error missing-file map-missing.sh 3 "no such image: /share/missing.qcow2"',
  'expect_clean missing-file',
  'expect_error not-an-image map-notimage.sh 1 "is not a disk image"',
  'expect_clean not-an-image',
  'SHA_DOS=$(sha /share/dos.qcow2); SHA_GPT=$(sha /share/gpt.qcow2); SHA_CLONE=$(sha /share/clone.qcow2)',
  'run dos map-dos.sh',
  'check "dos: exit 0" [ "$RC" = 0 ]',
  'check "dos: p1 (ext4 on a DOS partition) read" content /mnt/nbdforge/dos/p1/hello.txt "$DOS_P1"',
  'check "dos: LV vg0/root read" content /mnt/nbdforge/dos/vg0-root/hello.txt "$DOS_LV"',
  'check "dos: VG active under its own name vg0" vg_active vg0',
  'check "dos: mounted read-only" sh -c "grep \\" /mnt/nbdforge/dos/p1 \\" /proc/mounts | grep -q \\" ro,\\""',
  'check "dos: table printed" said dos "/mnt/nbdforge/dos/vg0-root"',
  'run gpt map-gpt.sh',
  'check "gpt: exit 0" [ "$RC" = 0 ]',
  'check "gpt: p1 (ext4 on a GPT partition) read" content /mnt/nbdforge/gpt/p1/hello.txt "$GPT_P1"',
  'check "gpt: its own vg0 read while the DOS image\'s vg0 is mapped" content /mnt/nbdforge/gpt/vg0-root/hello.txt "$GPT_LV"',
  'check "gpt: clashing vg0 active as vg0_nbd1" vg_active vg0_nbd1',
  'check "gpt: the first vg0 still active and readable" content /mnt/nbdforge/dos/vg0-root/hello.txt "$DOS_LV"',
  'check "gpt: table names the rename" said gpt "VG vg0 is active as vg0_nbd1"',
  'expect_error no-free-device map-clone.sh 1 "no free nbd device"',
  'check "no-free-device: the two maps stay, the failed one left nothing" [ "$(connected)" = 2 -a "$(journals)" = 2 -a ! -e /mnt/nbdforge/clone ]',
  'run unmap-all-1 unmap-all.sh',
  'check "unmap --all: exit 0" [ "$RC" = 0 ]',
  'expect_clean unmap-all-1',
  'expect_error unmap-not-mapped unmap-missing.sh 1 "nothing mapped or exported matches"',
  h.reload(8),
  'run dos2 map-dos.sh; run gpt2 map-gpt.sh; run clone map-clone.sh',
  'check "clone: three maps" [ "$RC" = 0 -a "$(connected)" = 3 ]',
  'check "clone: byte-identical clone given new UUIDs, active as vg0_nbd2" vg_active vg0_nbd2',
  'check "clone: its LV read" content /mnt/nbdforge/clone/vg0-root/hello.txt "$DOS_LV"',
  'check "clone: its p1 read" content /mnt/nbdforge/clone/p1/hello.txt "$DOS_P1"',
  'check "clone: the original vg0 still readable" content /mnt/nbdforge/dos/vg0-root/hello.txt "$DOS_LV"',
  'check "clone: three LVs in device-mapper" [ "$(dmcount)" = 3 ]',
  'run unmap-clone unmap-clone.sh',
  'check "unmap IMAGE: exit 0, the clone gone, two left" [ "$RC" = 0 -a "$(connected)" = 2 -a ! -e /mnt/nbdforge/clone -a "$(dmcount)" = 2 ]',
  'run unmap-nbd1 unmap-nbd1.sh',
  'check "unmap DEVICE (/dev/nbd1 = gpt): exit 0, gpt gone, dos left" [ "$RC" = 0 -a "$(connected)" = 1 -a ! -e /mnt/nbdforge/gpt -a -e /mnt/nbdforge/dos/p1/hello.txt ]',
  'run unmap-all-2 unmap-all.sh',
  'expect_clean unmap-all-2',
  'check "read-only maps left dos.qcow2 unchanged (sha256)" [ "$(sha /share/dos.qcow2)" = "$SHA_DOS" ]',
  'check "read-only maps left gpt.qcow2 unchanged, though its VG was renamed while mapped" [ "$(sha /share/gpt.qcow2)" = "$SHA_GPT" ]',
  'check "read-only maps left clone.qcow2 unchanged, though vgimportclone ran on it" [ "$(sha /share/clone.qcow2)" = "$SHA_CLONE" ]',
  // an ext4 whose journal needs recovery, an XFS, and a byte-identical clone of both
  'SHA_FS=$(sha /share/fs.qcow2)',
  'run fs map-fs.sh',
  'check "fs: exit 0" [ "$RC" = 0 ]',
  'check "fs: dirty ext4 mounted read-only without replaying its journal (noload)" mopt /mnt/nbdforge/fs/p1 ro, norecovery',
  'check "fs: its files read" content /mnt/nbdforge/fs/p1/hello.txt "$FS_P1"',
  'check "fs: XFS mounted read-only, norecovery" mopt /mnt/nbdforge/fs/p2 ro, norecovery',
  'check "fs: XFS content read" content /mnt/nbdforge/fs/p2/hello.txt "$FS_XFS"',
  'run fsclone map-fsclone.sh',
  'check "fsclone: the XFS clone (same filesystem UUID) mounts next to its original (nouuid)" content /mnt/nbdforge/fsclone/p2/hello.txt "$FS_XFS"',
  'check "fsclone: the ext4 clone mounts too" content /mnt/nbdforge/fsclone/p1/hello.txt "$FS_P1"',
  'run fs-unmap unmap-all.sh',
  'expect_clean fs-unmap',
  'run fs-snap map-fs-snap.sh',
  'check "fs --snapshot: ext4 mounted read-write into the overlay" mopt /mnt/nbdforge/fs/p1 rw,',
  'check "fs --snapshot: the journal was replayed (into the overlay): the file written while mounted is there" content /mnt/nbdforge/fs/p1/dirty.txt "$FS_DIRTY"',
  'echo scratch > /mnt/nbdforge/fs/p2/scratch.txt',
  'run fs-snap-unmap unmap-all.sh',
  'expect_clean fs-snap-unmap',
  'check "fs.qcow2 unchanged by read-only and --snapshot maps (journal replay and writes went to the overlay)" [ "$(sha /share/fs.qcow2)" = "$SHA_FS" ]',
  ];
}

/** --rw: a clone refused, a renamed VG renamed back, writes kept, a held image, kill -9 midway then unmap --all, loop devices, export. */
export function rwScenario(h: Host): string[] {
  return [
  ...h.load(8),
  'SHA_RW=$(sha /share/rw.qcow2)',
  'run dos map-dos.sh',
  'SHA_CLONE=$(sha /share/clone.qcow2)',
  'expect_error rw-clone map-rw-clone.sh 1 "byte-identical clone"',
  'check "rw-clone: refused, nothing left of it, image unchanged" [ "$(connected)" = 1 -a "$(journals)" = 1 -a ! -e /mnt/nbdforge/clone -a "$(sha /share/clone.qcow2)" = "$SHA_CLONE" ]',
  'run rw map-rw.sh',
  'check "rw: exit 0" [ "$RC" = 0 ]',
  'check "rw: clashing vg0 renamed (in the image) to vg0_nbd1" vg_active vg0_nbd1',
  'check "rw: mounted read-write" sh -c "grep \\" /mnt/nbdforge/rw/p1 \\" /proc/mounts | grep -q \\" rw,\\""',
  'echo written-p1 > /mnt/nbdforge/rw/p1/new.txt && echo written-lv > /mnt/nbdforge/rw/vg0-root/new.txt',
  'run rw-unmap unmap-all.sh',
  'check "rw unmap: exit 0" [ "$RC" = 0 ]',
  'check "rw unmap: renamed the VG back" said rw-unmap "renamed VG vg0_nbd1 back to vg0"',
  'expect_clean rw-unmap',
  'check "rw: the image changed (writes reached it)" [ "$(sha /share/rw.qcow2)" != "$SHA_RW" ]',
  'run rw-again map-rw-ro.sh',
  'check "rw again: VG is vg0 in the image again (no rename needed)" vg_active vg0',
  'check "rw again: no rename recorded" sh -c "! grep -q \\"kind\\\\\\":\\\\\\"rename\\" $STATE/maps/*.jsonl"',
  'check "rw again: write on p1 kept" content /mnt/nbdforge/rw/p1/new.txt written-p1',
  'check "rw again: old content still there" content /mnt/nbdforge/rw/vg0-root/hello.txt "$GPT_LV"',
  'check "rw again: write on the LV kept" content /mnt/nbdforge/rw/vg0-root/new.txt written-lv',
  'run rw-again-unmap unmap-all.sh',
  'expect_clean rw-again-unmap',
  ...h.locked,
  // two maps started at the same moment: the allocation lock gives each its own device
  'sh /share/map-dos.sh > /tmp/c1.out 2>&1 & p1=$!; sh /share/map-gpt.sh > /tmp/c2.out 2>&1 & p2=$!; wait $p1; r1=$?; wait $p2; r2=$?',
  'check "two maps at once: both exit 0, two devices connected" [ "$r1" = 0 -a "$r2" = 0 -a "$(connected)" = 2 ]',
  'check "two maps at once: both images and both vg0 readable" sh -c \'[ "$(cat /mnt/nbdforge/dos/vg0-root/hello.txt)" = "$1" ] && [ "$(cat /mnt/nbdforge/gpt/vg0-root/hello.txt)" = "$2" ]\' sh "$DOS_LV" "$GPT_LV"',
  'run concurrent-unmap unmap-all.sh',
  'expect_clean concurrent-unmap',
  // kill -9 in the middle of a map (once LVM is being activated, once just after the connect began)
  'for at in \'"kind":"activate"\' \'"kind":"connect"\'; do',
  '  sh /share/map-gpt.sh > /tmp/kill.out 2>&1 & pid=$!',
  '  i=0; while ! grep -qsF "$at" $STATE/maps/*.jsonl && [ $i -lt 600 ]; do sleep 0.02; i=$((i + 1)); done',
  '  kill_tree $pid; wait $pid 2>/dev/null; sleep 0.5',
  '  echo "--- killed map at $at: $(connected) nbd connected, $(dmcount) dm, $(mounts) mounts, $(journals) journals"',
  '  check "kill -9 at $at: the map was cut short (its journal is still there)" [ "$(journals)" = 1 ]',
  '  run kill-unmap unmap-all.sh',
  '  check "kill -9 at $at: unmap --all exit 0" [ "$RC" = 0 ]',
  '  expect_clean "kill -9 at $at, then unmap --all"',
  'done',
  // loop devices: the raw image with partition scan, then one partition by offset
  'SHA_RAW=$(sha /share/dos.raw)',
  'run loop map-loop.sh',
  'check "loop: exit 0, on a loop device" [ "$RC" = 0 -a "$(loops)" = 1 -a "$(connected)" = 0 ]',
  'check "loop: p1 read" content /mnt/nbdforge/dos/p1/hello.txt "$DOS_P1"',
  'check "loop: LV read" content /mnt/nbdforge/dos/vg0-root/hello.txt "$DOS_LV"',
  'run loop-unmap unmap-all.sh',
  'expect_clean loop-unmap',
  'run loop-offset map-loop-offset.sh',
  'check "loop --offset 2048s: the partition alone, mounted as disk" content /mnt/nbdforge/dos/disk/hello.txt "$DOS_P1"',
  'run loop-offset-unmap unmap-all.sh',
  'expect_clean loop-offset-unmap',
  'check "loop maps left dos.raw unchanged" [ "$(sha /share/dos.raw)" = "$SHA_RAW" ]',
  // export: a server on loopback that qemu-img reads
  'ip link set lo up',
  'run export export-gpt.sh',
  'check "export: exit 0, prints the URL" [ "$RC" = 0 ] && said export "nbd://127.0.0.1:10809"',
  'check "export: prints the qemu -drive line" said export "-drive file=nbd://127.0.0.1:10809,format=raw"',
  'qemu-img info nbd://127.0.0.1:10809 > /tmp/info.txt 2>&1; cat /tmp/info.txt',
  'check "export: qemu-img info nbd://127.0.0.1:10809 sees the 96 MiB disk" grep -q "virtual size: 96 MiB" /tmp/info.txt',
  'run export-stop export-stop.sh',
  'check "export --stop: exit 0, server stopped" [ "$RC" = 0 ] && said export-stop "stopped the qemu-nbd server"',
  'check "export --stop: port closed" sh -c "! qemu-img info nbd://127.0.0.1:10809 >/dev/null 2>&1"',
  'expect_clean export-stop',
  ];
}
