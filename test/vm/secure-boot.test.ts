/**
 * A signed module accepted by a real kernel under real UEFI Secure Boot (QEMU TCG, one boot).
 *
 * Firmware: Debian's OVMF built with Secure Boot, whose snakeoil variable store enrols Debian's test
 * certificate (PkKek-1-snakeoil, private key shipped in the ovmf package for tests) as PK, KEK and db.
 * The Debian kernel is booted directly by OVMF after sbsign adds a snakeoil signature (OVMF refuses it
 * otherwise). With Secure Boot on, the kernel locks itself down (integrity), loads db into its
 * .platform keyring, and Debian's kernel also checks module signatures against that keyring.
 * nbdforge signs nbd.ko with the same snakeoil key; the guest then shows: Secure Boot on, lockdown
 * integrity, the unsigned module refused by prepare-host (exit 3, unchanged) and by the kernel, and
 * prepare-host's emitted script installing and loading the signed one.
 * Not covered here: a key enrolled through shim + MokManager (mokutil --import), see docs/signing.md.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { prepareGuest, testReleases } from '../../scripts/vm/harness.ts';
import { bootGuest } from '../../src/guest/qemu.ts';
import { ROOT, STORE, CLI, artifactFor } from './helpers.ts';

$.verbose = false;
const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE_4M.snakeoil.fd';
const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
const SNAKEOIL_KEY = '/usr/share/ovmf/PkKek-1-snakeoil.key';
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem';
const HOME = path.join(resolvePaths(process.env).home, 'test-vm', 'secure-boot');
const SB_STORE = path.join(HOME, 'store');
let share = '';

test.before(async () => {
  for (const f of [OVMF_CODE, OVMF_VARS, SNAKEOIL_KEY, SNAKEOIL_CERT])
    assert.ok(await fs.pathExists(f), `${f} is missing: npx tsx scripts/setup-host.ts --with sign (installs ovmf, sbsigntool)`);
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-secure-boot-'));
});
test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('Secure Boot (OVMF, snakeoil db): lockdown on, unsigned refused (exit 3, unchanged), the signed module installed and loaded by prepare-host', async () => {
  const { newest: krel } = await testReleases();
  const unsigned = await artifactFor(krel);
  // The ovmf package ships the snakeoil key encrypted with the passphrase "snakeoil"; sign-file wants it plain.
  await fs.mkdirp(HOME);
  const key = path.join(HOME, 'snakeoil.key');
  if (!(await fs.pathExists(key))) await $`openssl rsa -in ${SNAKEOIL_KEY} -passin pass:snakeoil -out ${key}`;
  await fs.chmod(key, 0o600);
  const b = await $({ cwd: ROOT, nothrow: true })`node ${CLI} build --family debian12 --kernel ${krel} --store ${SB_STORE} --sign-key ${key} --sign-cert ${SNAKEOIL_CERT}`;
  assert.is(b.exitCode, 0, b.stderr + b.stdout);
  const [entry] = await new DirStore(SB_STORE).list({ kernelRelease: krel, module: 'nbd' });

  for (const [from, file] of [[STORE, 'unsigned.sh'], [SB_STORE, 'signed.sh']]) {
    const r = await $({ cwd: ROOT, nothrow: true })`node ${CLI} prepare-host --from ${from} --kernel ${krel} --emit-script ${path.join(share, file)}`;
    assert.is(r.exitCode, 0, r.stderr + r.stdout);
  }
  await fs.writeFile(path.join(share, 'unsigned.ko'), unsigned.bytes);
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  const guest = await prepareGuest({ release: krel });
  // OVMF with Secure Boot on loads only images db allows: add a snakeoil signature to Debian's kernel.
  const vmlinuz = path.join(share, 'vmlinuz.signed');
  await $`sbsign --key ${key} --cert ${SNAKEOIL_CERT} --output ${vmlinuz} ${guest.kernel.vmlinuz}`;
  const vars = path.join(share, 'OVMF_VARS.fd');
  await fs.copy(OVMF_VARS, vars);

  await fs.writeFile(path.join(share, 'boot.sh'), [
    `KREL=${krel}`,
    `ART_SHA=${entry.sha256}`,
    '. /share/prepare-host-checks.sh',
    'mount -t securityfs securityfs /sys/kernel/security',
    'check "firmware Secure Boot is on (kernel says so)" sh -c "dmesg | grep -q \'secureboot: Secure boot enabled\'"',
    'check "lockdown: integrity, from EFI Secure Boot" grep -q "\\[integrity\\]" /sys/kernel/security/lockdown',
    'check "the snakeoil certificate came from UEFI db" sh -c "dmesg | grep -q \'Loaded X.509 cert .SnakeOil\'"',
    'expect_refused_unchanged unsigned unsigned.sh 3 refused',
    'check "unsigned: prepare-host says why" grep -Eq "^@nbdforge message .*enforces module signatures.*this module is unsigned" /tmp/unsigned.out',
    'check "kernel: insmod of the unsigned module is refused" sh -c "! insmod /share/unsigned.ko 2>/dev/null"',
    'expect_installed signed signed.sh',
    'check "signed: the kernel verified it (no unsigned-module taint E)" sh -c "! grep -q E /sys/module/nbd/taint"',
    'dmesg | grep -i -E "secure|lockdown|X.509|nbd|module" | sed "s/^/    dmesg: /"',
    'finish',
    '',
  ].join('\n'));
  const logFile = path.join(share, 'boot.console.log');
  const r = await bootGuest({
    kernel: { ...guest.kernel, vmlinuz },
    initramfs: guest.initramfs,
    share,
    script: 'boot.sh',
    logFile,
    timeoutMs: 300_000,
    extraArgs: ['-machine', 'q35,smm=on', '-global', 'driver=cfi.pflash01,property=secure,value=on',
      '-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${OVMF_CODE}`, '-drive', `if=pflash,format=raw,unit=1,file=${vars}`],
  });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${krel} Secure Boot: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-4000)}`);
  assert.ok(checks.length > 15, `too few checks ran:\n${r.console.slice(-3000)}`);
});

test.run();
