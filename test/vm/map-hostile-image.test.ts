/**
 * Hostile images and a shared host (issue 24: D, E, G, H, L) on a real Debian kernel under QEMU TCG,
 * one boot: images whose layers reach host files (/etc/passwd as a qcow2 backing file and as a VMDK
 * flat extent, a root-only file as an external data file, nbd: and json: backing names, a VMDK parent
 * hint, a backing loop), a raw disk that starts with a qcow2 header, a FIFO, /dev/zero, an empty file;
 * a legitimate overlay beside its base; one writer per image; the default export against an
 * unprivileged user (uid 65534); --socket at an existing file; a block device the host has mounted.
 * Images are made here with qemu-img; the checks are test/vm/map/hostile.sh.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import type { Guest } from '../../scripts/vm/harness.ts';
import { MAP_MODULES } from '../../scripts/vm/make-map-images.ts';
import { mapShare, dropShare } from './map/share.ts';

$.verbose = false;
const BOOT_LIMIT_MS = 240_000;
let share = '';
let guest: Guest;


/** Replace the text of a qcow2 header extension (same length), e.g. a data file name qemu-img would have created. */
async function patchName(file: string, from: string, to: string): Promise<void> {
  assert.is(from.length, to.length);
  const b = await fs.readFile(file);
  const i = b.indexOf(Buffer.from(from));
  assert.ok(i > 0, `${from} not in ${file}`);
  Buffer.from(to).copy(b, i);
  await fs.writeFile(file, b);
}

/** The hostile and legitimate images, in SHARE/h (the guest's /share/h). */
async function makeImages(h: string): Promise<void> {
  await fs.mkdirp(h);
  const q = (...a: string[]) => $({ cwd: h })`qemu-img ${a}`;
  // a legitimate base (an ext4 with one file) and an overlay beside it
  const src = path.join(h, '..', 'base-src');
  await fs.mkdirp(src);
  await fs.writeFile(path.join(src, 'hello.txt'), 'base-content\n');
  await $`mkfs.ext4 -q -F -d ${src} -L base ${path.join(h, 'base.raw')} 8M`;
  await fs.remove(src);
  await q('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'over.qcow2');
  await fs.symlink('over.qcow2', path.join(h, 'over-link.qcow2'));
  // outside references
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', '/etc/passwd', '-F', 'raw', 'evil-backing.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'nbd:127.0.0.1:10809', '-F', 'raw', 'evil-nbd.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'json:{"file.filename":"/etc/passwd"}', '-F', 'raw', 'evil-json.qcow2', '1M');
  // qemu-img create makes the data file: point it at a scratch file of the same name length, then rename
  const scratch = path.join(os.tmpdir(), 'x'.repeat('/root/secret.txt'.length - os.tmpdir().length - 1));
  await q('create', '-q', '-f', 'qcow2', '-o', `data_file=${scratch},data_file_raw=on`, 'evil-data.qcow2', '1M');
  await fs.remove(scratch);
  await patchName(path.join(h, 'evil-data.qcow2'), scratch, '/root/secret.txt');
  // a backing file without a backing format (the extension's type overwritten: qemu-img no longer makes one)
  await q('create', '-q', '-f', 'qcow2', '-b', 'base.raw', '-F', 'raw', 'evil-nofmt.qcow2');
  const nf = await fs.readFile(path.join(h, 'evil-nofmt.qcow2'));
  Buffer.from([0x12, 0x34, 0x56, 0x78]).copy(nf, nf.indexOf(Buffer.from([0xe2, 0x79, 0x2a, 0xca])));
  await fs.writeFile(path.join(h, 'evil-nofmt.qcow2'), nf);
  const desc = (extra: string, extent: string) => `# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n${extra}createType="monolithicFlat"\n\n# Extent description\nRW 2048 FLAT "${extent}" 0\n`;
  await fs.writeFile(path.join(h, 'evil.vmdk'), desc('', '/etc/passwd'));
  await fs.writeFile(path.join(h, 'evil-parent.vmdk'), desc('parentFileNameHint="/etc/passwd"\n', 'base.raw'));
  // a backing loop
  await q('create', '-q', '-f', 'qcow2', 'loop1.qcow2', '1M');
  await q('create', '-q', '-f', 'qcow2', '-u', '-b', 'loop1.qcow2', '-F', 'qcow2', 'loop2.qcow2', '1M');
  await q('rebase', '-q', '-u', '-f', 'qcow2', '-b', 'loop2.qcow2', '-F', 'qcow2', 'loop1.qcow2');
  // a raw disk whose guest wrote a qcow2 header (one that names /etc/passwd) at its start
  await fs.copy(path.join(h, 'evil-backing.qcow2'), path.join(h, 'disguised.raw'));
  await fs.truncate(path.join(h, 'disguised.raw'), 1 << 20);
  await fs.copy(path.join(h, 'evil-backing.qcow2'), path.join(h, 'noname'));
}

test.before(async () => {
  const m = await mapShare({ tag: 'hostile', tools: ['/usr/bin/stat'], scripts: ['checks.sh', 'hostile.sh'], alongside: (dir) => makeImages(path.join(dir, 'h')) });
  ({ share, guest } = m);
  const h = (f: string) => `/share/h/${f}`;
  const emit = m.emit;
  const scripts: Array<[string, ...string[]]> = [
    ['map-evil-backing.sh', 'map', h('evil-backing.qcow2')],
    ['map-evil-vmdk.sh', 'map', h('evil.vmdk')],
    ['map-evil-data.sh', 'map', '--rw', h('evil-data.qcow2')],
    ['map-evil-nbd.sh', 'map', h('evil-nbd.qcow2')],
    ['map-evil-json.sh', 'map', h('evil-json.qcow2')],
    ['map-evil-parent.sh', 'map', h('evil-parent.vmdk')],
    ['map-evil-nofmt.sh', 'map', h('evil-nofmt.qcow2')],
    ['map-loop-fmt.sh', 'map', '--format', 'qcow2', h('loop1.qcow2')],
    ['map-noname.sh', 'map', h('noname')],
    ['map-fifo.sh', 'map', '/tmp/fifo'],
    ['map-zero.sh', 'map', '/dev/zero'],
    ['map-empty.sh', 'map', h('empty.img')],
    ['map-over-rw.sh', 'map', '--rw', h('over.qcow2')],
    ['map-over-rw-b.sh', 'map', '--rw', h('over.qcow2')],
    ['map-over-link-rw.sh', 'map', '--rw', h('over-link.qcow2')],
    ['map-over-ro.sh', 'map', h('over.qcow2')],
    ['map-over-shared.sh', 'map', '--shared-ro', h('over.qcow2')],
    ['export-over.sh', 'export', h('over.qcow2')],
    ['export-disguised.sh', 'export', '--persistent', h('disguised.raw')],
    ['export-stop-disguised.sh', 'export', '--stop', h('disguised.raw')],
    ['export-socket-file.sh', 'export', '--socket', '/tmp/precious.txt', h('disguised.raw')],
    ['export-socket-ok.sh', 'export', '--persistent', '--socket', '/tmp/nbdf.sock', h('disguised.raw')],
    ['export-stop-all.sh', 'export', '--stop', '--all'],
    ['map-bdev-rw.sh', 'map', '--rw', '/dev/loop0'],
    ['map-bdev-loop-rw.sh', 'map', '--loop', '--rw', '/dev/loop0'],
    ['export-bdev-rw.sh', 'export', '--rw', '/dev/loop0'],
    ['map-bdev-ro.sh', 'map', '/dev/loop0'],
    ['unmap-all.sh', 'unmap', '--all'],
  ];
  for (const [file, ...args] of scripts) await emit(file, ...args);
});

test.after(() => dropShare(share));

test('hostile images refused before qemu opens them, a legitimate overlay works, one writer per image, exports only for root, a mounted block device kept from writers', async () => {
  await fs.writeFile(path.join(share, 'hostile-boot.sh'), ['. /share/checks.sh', '. /share/hostile.sh', 'finish', ''].join('\n'));
  const logFile = path.join(share, 'hostile-boot.console.log');
  const r = await guest.boot({ share, script: 'hostile-boot.sh', modules: MAP_MODULES, logFile, timeoutMs: 3 * BOOT_LIMIT_MS });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] hostile: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${failed.length} failed, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-6000)}`);
  assert.ok(checks.length > 80, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms (limit ${BOOT_LIMIT_MS})`);
});

test.run();
