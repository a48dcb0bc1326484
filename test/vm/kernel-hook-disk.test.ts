/**
 * Kernel updates on a real Debian 12 system keep nbd (issue 17's first test): a persistent root disk
 * (debootstrap bookworm with systemd as PID 1, udev, networkd, dropbear; cached) running the
 * second-newest 6.1 ABI, three boots of the same disk under QEMU TCG:
 *  1. running R: a first prepare-host (emitted script, run over ssh) with a mistyped module option
 *     fails at its last check and is undone: hook, guard, configuration, module, modprobe.d,
 *     modules.dep and the loaded modules all as before, byte for byte. The
 *     real run from the published, signed dir site installs the module, hook, configuration and guard.
 *     Then a real `dpkg -i` of linux-image-<newest> (repacked without its nbd.ko, maintainer scripts
 *     untouched): its postinst's run-parts runs the hook, which fetches the newest's module from the
 *     site; it lands byte-identical to the store's, indexed, not loaded. With NBDFORGE_BENCH_HOOK=1,
 *     a BENCH line: the hook's time for that kernel against the same file copied by hand plus depmod.
 *  2. booted into the newest (the vmlinuz its package put in the disk's /boot): nbd loaded at boot from
 *     extra/, the guard active, /dev/nbd0 serves a qcow2 (a pattern written by qemu-io read back).
 *     `dpkg -i` of a kernel the site has no module for: exit 0, the hook says why.
 *  3. booted into that kernel: the guard logs its one line and shows in `systemctl --failed`.
 *     `prepare-host --status --ssh` says so; `nbdforge-nbd --purge` removes exactly the module the hook
 *     installed (not prepare-host's).
 * The site is served on this machine's 127.0.0.1; prepare-host reads it there and records that URL
 * for the hook, so the guest reaches the same URL through systemd-socket-proxyd on its own loopback,
 * forwarding to 10.0.2.2 (QEMU user networking's address for this machine).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { availableReleases, testReleases, vmCacheDir } from '../../scripts/vm/harness.ts';
import { ensureKernel } from '../../scripts/vm/kernels.ts';
import { diskGuest, removeOverlay, type Booted, type DiskGuest } from '../../scripts/vm/disk-guest.ts';
import { repackWithoutNbd } from '../../scripts/vm/debian-packages.ts';
import { sshOptions } from '../../scripts/vm/ssh.ts';
import { ROOT, CLI, artifactFor, type Artifact } from './helpers.ts';
import { publishSite, type Site } from './site.ts';
import { proxyUnits, SNAPSHOT, HOOK, PATTERN_CHECK, BENCH } from './guest/disk-checks.ts';

$.verbose = false;
// Bounds, not benchmarks: one systemd boot under TCG takes 30-50 s here, a dpkg -i of a kernel
// package a minute or more, and a loaded 2-core machine stretches both several-fold.
const BOOT_MS = 1_800_000;
// The BENCH line (docs/BENCHMARKS.md) costs three more depmod runs of a whole kernel under TCG: asked for.
const BENCH_ON = process.env.NBDFORGE_BENCH_HOOK === '1';
let share = '';
let site: Site;
let guest: DiskGuest | undefined;
let running: Artifact;
let newest: Artifact;
let bare = '';

test.before(async () => {
  const all = await availableReleases();
  const t = await testReleases();
  const runningRelease = all.filter((r) => r !== t.newest).pop()!;
  bare = t.older;
  [running, newest] = [await artifactFor(runningRelease), await artifactFor(t.newest)];
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-disk-'));
  site = await publishSite(path.join(share, 'site'), 'good', [running.release, newest.release]);
  for (const r of [newest.release, bare]) await repackWithoutNbd(r, vmCacheDir(), path.join(share, `linux-image-${r}-nonbd.deb`));
  await ensureKernel(bare, vmCacheDir());
  guest = await diskGuest({ installed: running.release, cacheDir: vmCacheDir(), share });
});

test.after(async () => {
  await site?.close();
  await removeOverlay(guest);
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

async function must(g: Booted, what: string, command: string): Promise<string> {
  const r = await g.sh(command);
  assert.is(r.code, 0, `${what}: exit ${r.code}\n${r.out}${r.err}`);
  return r.out + r.err;
}

/**
 * prepare-host for the guest's kernel from the published site, emitted as a script and run in the
 * guest through one ssh session (`--ssh` runs each probe and step in its own session: minutes under TCG).
 */
async function prepareHost(g: Booted, release: string, ...more: string[]): Promise<{ code: number; out: string }> {
  const file = path.join(share, 'prepare-host.sh');
  const from = `http://127.0.0.1:${site.port}/good`;
  const e = await $({ cwd: ROOT, nothrow: true, quiet: true })`node ${CLI} prepare-host --from ${from} --fingerprint ${site.fingerprint} --kernel ${release} --emit-script ${file} ${more}`;
  assert.is(e.exitCode, 0, e.stdout + e.stderr);
  const r = await g.sh('sh -s', await fs.readFile(file, 'utf8'));
  return { code: r.code, out: r.out + r.err };
}

function statusOverSsh(g: Booted) {
  const opts = sshOptions(guest!.disk.key, g.sshPort).flatMap((o) => ['--ssh-option', o]);
  return $({ cwd: ROOT, nothrow: true, quiet: true })`node ${CLI} prepare-host --status --ssh root@127.0.0.1 ${opts}`;
}

const logOf = (n: number) => path.join(share, `console-${n}.log`);
const rx = (s: string) => s.replace(/[.+]/g, '\\$&');

test('a Debian 12 host follows its kernels: prepare-host, dpkg -i of a new kernel, reboot into it with nbd; a kernel without a module installs and its boot fails visibly', async () => {
  const t0 = Date.now();
  const lap = (what: string) => console.log(`  [vm] ${((Date.now() - t0) / 1000).toFixed(1)} s: ${what}`);
  // boot 1: the running kernel
  let g = await guest!.boot(running.release, { logFile: logOf(1), timeoutMs: BOOT_MS });
  console.log(`  [vm] boot 1: ${g.ready}`);
  await must(g, 'site proxy', proxyUnits(site.port));
  const before = await must(g, 'snapshot', SNAPSHOT);
  lap('boot 1 up, proxy, snapshot');

  const typo = await prepareHost(g, running.release, '--options', 'nbds_max=16 max_part=15 nbdforge_typo=1');
  assert.is(typo.code, 1, typo.out);
  assert.match(typo.out, /@nbdforge step kernel-hook-postinst undone/);
  assert.is(await must(g, 'snapshot', SNAPSHOT), before, 'the failed run left everything as it was');
  lap('failed run undone');

  const run = await prepareHost(g, running.release);
  assert.is(run.code, 0, run.out);
  assert.match(run.out, /@nbdforge step guard-enable done/);
  assert.match(await must(g, 'nbd loaded', 'modinfo -n nbd; cat /sys/module/nbd/parameters/nbds_max'), new RegExp(`^/lib/modules/${rx(running.release)}/extra/nbd\\.ko\n16\n`));
  lap('prepare-host');
  assert.is((await must(g, 'module', `sha256sum /lib/modules/${running.release}/extra/nbd.ko`)).slice(0, 64), running.sha);

  const up = await must(g, 'dpkg -i newest', `dpkg -i /share/linux-image-${newest.release}-nonbd.deb 2>&1`);
  lap('dpkg -i newest');
  console.log(up.split('\n').filter((l) => /nbdforge|run-parts|Setting up/.test(l)).map((l) => `    ${l}`).join('\n'));
  assert.match(up, new RegExp(`\\[nbdforge hook\\] ${rx(newest.release)}: installed /lib/modules/${rx(newest.release)}/extra/nbd\\.ko`));
  const mod = `/lib/modules/${newest.release}/extra/nbd.ko`;
  assert.is((await must(g, 'module', `sha256sum ${mod}`)).slice(0, 64), newest.sha, 'byte-identical to the store');
  await must(g, 'indexed', `grep -q '^extra/nbd.ko:' /lib/modules/${newest.release}/modules.dep`);
  if (BENCH_ON) console.log(`  [vm] ${(await must(g, 'bench', BENCH(newest.release))).trim()}`);
  let off = await g.poweroff();
  assert.not.ok(off.timedOut, 'boot 1 ended by its time bound, not by poweroff');
  console.log(`  [vm] boot 1 done in ${(off.wallMs / 1000).toFixed(1)} s`);

  // boot 2: the newest, installed by dpkg above
  g = await guest!.boot(newest.release, { logFile: logOf(2), timeoutMs: BOOT_MS });
  console.log(`  [vm] boot 2: ${g.ready}`);
  const vmlinuz = (await $({ quiet: true })`sha256sum ${(await ensureKernel(newest.release, vmCacheDir())).vmlinuz}`).stdout.slice(0, 64);
  assert.is((await must(g, 'booted kernel', 'sha256sum /boot/vmlinuz-$(uname -r)')).slice(0, 64), vmlinuz, 'booted the vmlinuz dpkg installed');
  assert.is((await must(g, 'nbd at boot', 'modinfo -n nbd; cat /sys/module/nbd/parameters/nbds_max')).trim(), `${mod}\n16`);
  assert.is((await g.sh('systemctl is-active nbdforge-nbd-guard.service')).out.trim(), 'active');
  assert.match(await must(g, '/dev/nbd0 serves a qcow2', PATTERN_CHECK), /pattern read back through \/dev\/nbd0/);
  lap('boot 2 checks');
  const none = await g.sh(`dpkg -i /share/linux-image-${bare}-nonbd.deb 2>&1`);
  assert.is(none.code, 0, none.out + none.err);
  lap('dpkg -i without artifact');
  assert.match(none.out, new RegExp(`\\[nbdforge hook\\] ${rx(bare)}: no module for ${rx(bare)} yet at http://127\\.0\\.0\\.1:${site.port}/good`));
  console.log(none.out.split('\n').filter((l) => /nbdforge hook/.test(l)).map((l) => `    ${l}`).join('\n'));
  off = await g.poweroff();
  assert.not.ok(off.timedOut, 'ended by its time bound, not by poweroff');
  console.log(`  [vm] boot 2 done in ${(off.wallMs / 1000).toFixed(1)} s`);

  // boot 3: the kernel without a module
  g = await guest!.boot(bare, { logFile: logOf(3), timeoutMs: BOOT_MS });
  console.log(`  [vm] boot 3: ${g.ready}`);
  assert.match((await g.sh('systemctl --failed --no-legend --plain')).out, /^nbdforge-nbd-guard\.service +loaded +failed +failed/m);
  const journal = (await g.sh('journalctl -b -o cat -u nbdforge-nbd-guard.service')).out;
  const lines = journal.split('\n').filter((l) => l.startsWith(`nbdforge-nbd-guard: kernel ${bare} has no usable nbd.ko`));
  assert.is(lines.length, 1, journal);
  assert.match(lines[0], /fix: nbdforge matrix --missing/);
  console.log(`    ${lines[0]}`);
  await must(g, 'nbd not loaded', '[ ! -d /sys/module/nbd ]');
  const status = await statusOverSsh(g);
  assert.is(status.exitCode, 0, status.stdout + status.stderr);
  console.log(status.stdout.replace(/^/gm, '    '));
  assert.match(status.stdout, new RegExp(`^  \\* ${rx(bare)} +MISSING: no module for ${rx(bare)} yet`, 'm'));
  assert.match(status.stdout, new RegExp(`^    ${rx(newest.release)} +exact: /lib/modules/${rx(newest.release)}/extra/nbd\\.ko .*installed by the kernel hook$`, 'm'));
  assert.match(status.stdout, /^boot guard: unit in place, enabled/m);
  const purge = await must(g, 'purge', `${HOOK} --purge`);
  assert.match(purge, new RegExp(`removed ${rx(mod)}`));
  await must(g, 'purged exactly the hook\'s module', `[ ! -e ${mod} ] && [ -f /lib/modules/${running.release}/extra/nbd.ko ] && ! ls /var/lib/nbdforge/kernels/* 2>/dev/null`);
  off = await g.poweroff();
  assert.not.ok(off.timedOut, 'ended by its time bound, not by poweroff');
  console.log(`  [vm] boot 3 done in ${(off.wallMs / 1000).toFixed(1)} s; whole test ${((Date.now() - t0) / 1000).toFixed(1)} s`);
});

test.run();
