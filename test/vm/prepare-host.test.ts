/**
 * prepare-host on real Debian kernels (newest ABI and the oldest apt offers) under QEMU TCG, with the
 * distribution's nbd.ko removed from the guest. The real CLI emits the plan as a POSIX script for
 * each kernel; the guest runs it with its own sh, kmod and depmod: no Node inside. Artifacts come
 * from the real build command into a test-owned store (a cache hit after the first run).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { createHash } from 'node:crypto';
import { sha256 } from '../../src/util/hash.ts';
import { emitScript } from '../../src/host/emit-script.ts';
import { planPrepareHost } from '../../src/prepare-host/plan-prepare-host.ts';
import { hostLayout } from '../../src/prepare-host/layout.ts';
import { parseOptions, DEFAULT_OPTIONS } from '../../src/prepare-host/options.ts';
import { prepareGuest, testReleases, type Guest } from '../../scripts/vm/harness.ts';
import { ROOT, STORE, artifactFor, type Artifact } from './helpers.ts';

$.verbose = false;
// A bound, not a benchmark: a loaded 2-core machine stretches boots two- to three-fold.
const BOOT_LIMIT_MS = 150_000;

interface Kernel extends Artifact {
  guest: Guest;
}
let share = '';
let newest: Kernel;
let older: Kernel;
const disk = { name: 'disk.qcow2', sha: '', bytes: 4 * 1024 * 1024 };

async function emit(release: string, file: string): Promise<void> {
  const r = await $({ cwd: ROOT, nothrow: true })`node bin/nbdforge.js prepare-host --from ${STORE} --kernel ${release} --emit-script ${path.join(share, file)}`;
  assert.is(r.exitCode, 0, `prepare-host --emit-script failed: ${r.stderr}${r.stdout}`);
}

/** A plan made with the library while lying about the artifact: only the guest's own checks stand in the way. */
async function emitLying(file: string, k: Kernel, bytes: Buffer, claimedSha: string): Promise<void> {
  const plan = planPrepareHost({ layout: hostLayout(k.release), artifact: { bytes, sha256: claimedSha, vermagic: k.vermagic }, options: parseOptions(DEFAULT_OPTIONS), needsBase64: true });
  await fs.writeFile(path.join(share, file), emitScript(plan));
}

async function bootScript(k: Kernel, name: string, body: string[]): Promise<void> {
  const vars = [`KREL=${k.release}`, `ART_SHA=${k.sha}`, `DISK=${disk.name}`, `DISK_SHA=${disk.sha}`, `DISK_BYTES=${disk.bytes}`];
  await fs.writeFile(path.join(share, name), [...vars, '. /share/prepare-host-checks.sh', ...body, 'finish', ''].join('\n'));
}

async function boot(k: Kernel, script: string): Promise<string> {
  const logFile = path.join(share, `${script}.console.log`);
  const r = await k.guest.boot({ share, script, logFile, timeoutMs: 3 * BOOT_LIMIT_MS });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${k.release} ${script}: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest ${k.release} ${script}: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-4000)}`);
  assert.ok(checks.length > 10, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms (limit ${BOOT_LIMIT_MS})`);
  return r.console;
}

test.before(async () => {
  const rel = await testReleases();
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-prepare-host-'));
  // one after the other: on a fresh machine the first build also makes the builder image
  const a = await artifactFor(rel.newest);
  const b = await artifactFor(rel.older);
  const [ga, gb] = await Promise.all([prepareGuest({ release: rel.newest }), prepareGuest({ release: rel.older })]);
  newest = { ...a, guest: ga };
  older = { ...b, guest: gb };
  for (const k of [newest, older]) await emit(k.release, `prepare-${k.release}.sh`);
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  // a qcow2 whose content the guest can check through /dev/nbd0
  const raw = Buffer.alloc(disk.bytes);
  for (let off = 0, h = Buffer.from('nbdforge'); off < raw.length; off += 32) (h = createHash('sha256').update(h).digest()).copy(raw, off);
  disk.sha = sha256(raw);
  await fs.writeFile(path.join(share, 'disk.raw'), raw);
  await $`qemu-img convert -f raw -O qcow2 ${path.join(share, 'disk.raw')} ${path.join(share, disk.name)}`;
  await fs.remove(path.join(share, 'disk.raw'));
});

test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('newest kernel: guest refuses a wrong-kernel and a corrupt module unchanged, undoes a run whose last check fails, installs and loads the real one, re-run is a no-op, /dev/nbd0 serves a qcow2', async () => {
  // the older kernel's module, passed off as this kernel's: vermagic differs, the guest must refuse
  await emitLying('lying-vermagic.sh', newest, older.bytes, older.sha);
  // the right module, damaged on the way: sha256 differs from the one the plan carries
  const damaged = Buffer.from(newest.bytes);
  damaged[damaged.length >> 1] ^= 0xff;
  await emitLying('lying-sha.sh', newest, damaged, newest.sha);
  await bootScript(newest, 'boot-newest.sh', [
    'expect_refused_unchanged wrong-kernel-module lying-vermagic.sh 1 failed verify-vermagic failed',
    'expect_refused_unchanged corrupt-module lying-sha.sh 1 failed verify-sha256 failed',
    // a host whose own modprobe.d overrides nbds_max: the module loads, the last check fails, and
    // everything is undone: rmmod, both conf files, the module, depmod's index (byte for byte)
    'mkdir /etc/modprobe.d && echo "options nbd nbds_max=4" > /etc/modprobe.d/zz-local.conf',
    `expect_refused_unchanged conflicting-options prepare-${newest.release}.sh 1 failed check-module failed`,
    'check "conflicting-options: the step said why" grep -q "nbd parameter nbds_max is 4, expected 16" /tmp/conflicting-options.out',
    'check "conflicting-options: nbd was loaded, then removed" step_is conflicting-options modprobe undone',
    'rm /etc/modprobe.d/zz-local.conf && rmdir /etc/modprobe.d',
    `expect_installed first-run prepare-${newest.release}.sh`,
    `expect_noop second-run prepare-${newest.release}.sh`,
    'expect_serves_qcow2',
  ]);
  await boot(newest, 'boot-newest.sh');
});

test('older kernel: the newest kernel\'s script refused, nbd loaded elsewhere or built in is nothing to do, a held lock refuses, all unchanged; its own script installs, loads, serves a qcow2, re-runs as a no-op', async () => {
  await fs.writeFile(path.join(share, 'nbd-elsewhere.ko'), older.bytes);
  const m = `/lib/modules/${older.release}`;
  await bootScript(older, 'boot-older.sh', [
    `expect_refused_unchanged other-kernel-script prepare-${newest.release}.sh 3 refused`,
    // nbd loaded from somewhere else than extra/: nothing to do, says so
    'insmod /share/nbd-elsewhere.ko',
    `expect_nothing_to_do loaded-elsewhere prepare-${older.release}.sh 'already loaded and is not this artifact'`,
    'rmmod nbd',
    // nbd built into the kernel (as modules.builtin says): nothing to do, says so
    `cp ${m}/modules.builtin /tmp/builtin && echo kernel/drivers/block/nbd.ko >> ${m}/modules.builtin`,
    `expect_nothing_to_do builtin prepare-${older.release}.sh 'built into kernel ${older.release}'`,
    `cp /tmp/builtin ${m}/modules.builtin`,
    `expect_locked_out locked prepare-${older.release}.sh`,
    `expect_installed first-run prepare-${older.release}.sh`,
    'expect_serves_qcow2',
    `expect_noop second-run prepare-${older.release}.sh`,
  ]);
  await boot(older, 'boot-older.sh');
});

test.run();
