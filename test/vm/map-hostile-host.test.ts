/**
 * Issue 24, the host half: hostile images mapped by the emitted map/unmap/export scripts on a real
 * Debian kernel under QEMU TCG, with an unprivileged user (uid 65534) on the same host. One boot
 * runs every case (test/vm/map/hostile-host.sh): setuid shell and device node in the image (A),
 * mount roots and state dirs another user controls (B, C, J), two maps of same-named images at once
 * (J), unmap while a mount is busy (F), errors=panic superblocks (K), --no-mount, overlapping
 * partitions and a looping EBR (I), a label with a backslash and a quote, an LV named .hid, a failed
 * export. The journal the label case wrote is then read by the Node side.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path } from 'zx';
import type { Guest } from '../../scripts/vm/harness.ts';
import { makeMapImages, type MapImages } from '../../scripts/vm/make-map-images.ts';
import { mapShare, dropShare } from './map/share.ts';
import { runMapBoot } from './map/scenarios.ts';
import { makeHostileImages, HOSTILE_CONTENT } from './map/hostile-images.ts';
import { parseJournal, mapState } from '../../src/host/journal.ts';

$.verbose = false;
// one boot with about 30 maps and unmaps; a loaded 2-core machine stretches it (a bound, not a benchmark)
const BOOT_LIMIT_MS = 300_000;
let share = '';
let guest: Guest;
let imgs: MapImages;


test.before(async () => {
  const m = await mapShare({
    tag: 'h24host',
    tools: ['/usr/bin/setpriv'],
    scripts: ['checks.sh', 'hostile-host.sh'],
    alongside: async (dir, newest) => (await Promise.all([makeMapImages({ release: newest }), makeHostileImages(dir, path.join(dir, 'work'))]))[0],
  });
  ({ share, guest, made: imgs } = m);
  await fs.remove(path.join(share, 'work'));
  const s = (f: string) => `/share/${f}`;
  const emit = m.emit;
  await emit('map-suid.sh', 'map', s('suid.qcow2'));
  await emit('map-suid-exec.sh', 'map', '--exec', s('suid.qcow2'));
  await emit('map-ww-root.sh', 'map', '--mount-root', '/srv/ww/mnt', s('plain.qcow2'));
  await emit('map-ww-state.sh', 'map', '--state-dir', '/srv/wws', s('plain.qcow2'));
  await emit('unmap-ww-state.sh', 'unmap', '--all', '--state-dir', '/srv/wws');
  await emit('map-link-root.sh', 'map', '--mount-root', '/srv/link/x', s('plain.qcow2'));
  await emit('map-exists-root.sh', 'map', '--mount-root', '/srv/real', s('plain.qcow2'));
  await emit('map-dup-a.sh', 'map', s('a/dup.qcow2'));
  await emit('map-dup-b.sh', 'map', s('b/dup.qcow2'));
  await emit('unmap-dup-a.sh', 'unmap', s('a/dup.qcow2'));
  await emit('map-busy.sh', 'map', '--rw', s('busy.qcow2'));
  await emit('map-busy-ro.sh', 'map', s('busy.qcow2'));
  await emit('map-panic.sh', 'map', s('panic.qcow2'));
  await emit('map-panicok.sh', 'map', s('panicok.qcow2'));
  await emit('map-nomount.sh', 'map', '--no-mount', s('plain.qcow2'));
  await emit('map-overlap-rw.sh', 'map', '--rw', s('overlap.qcow2'));
  await emit('map-label.sh', 'map', s('label.qcow2'));
  await emit('map-dotlv.sh', 'map', '/tmp/dotlv.raw');
  await emit('export-notimage.sh', 'export', s('notimage.txt'), '--read-only');
  await emit('unmap-all.sh', 'unmap', '--all');
});

test.after(() => dropShare(share));

test('hostile images: nothing gains privilege, no link is followed, a busy unmap keeps data, errors=panic does not panic, overlaps mount once read-only', async () => {
  const vars = [`SUID_C=${HOSTILE_CONTENT.suid}`, `OVA_C=${HOSTILE_CONTENT.ovA}`, `OVB_C=${HOSTILE_CONTENT.ovB}`];
  await runMapBoot({ guest, share, imgs, limitMs: BOOT_LIMIT_MS }, 'boot-hostile.sh', [...vars, '. /share/hostile-host.sh'], 100);
  // the journal of the label case, as Node reads it: valid JSON, the label byte for byte
  const state = mapState(parseJournal(await fs.readFile(path.join(share, 'label-journal.jsonl'), 'utf8')));
  assert.is(state.filesystems[0]?.label, HOSTILE_CONTENT.label);
  assert.is(state.filesystems[0]?.opts, 'ro,noload,errors=remount-ro,nosuid,nodev,noexec');
});

test.run();
