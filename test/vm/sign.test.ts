/**
 * Module signatures on a real Debian kernel booted with `module.sig_enforce=1` (QEMU TCG, one boot).
 * Artifacts come from the real build command: the unsigned one from the shared vm store, a signed one
 * (test key kept under $NBDFORGE_HOME/test-vm/sign so re-runs are cache hits) from a store of its own.
 *
 * What the guest proves: the kernel enforces signatures; prepare-host's emitted script refuses the
 * unsigned module (exit 3, says why, guest unchanged); the kernel itself refuses the unsigned module
 * as "unsigned", and refuses ours as signed by an "unavailable key": its own PKCS#7 parser read our
 * signature and looked for our key, which this kernel (trusting only Debian's built-in keys) lacks.
 * prepare-host lets the signed module through its preconditions; the kernel's refusal at load fails
 * the modprobe step and the plan undoes itself (exit 1, guest unchanged).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { prepareGuest, testReleases } from '../../scripts/vm/harness.ts';
import { ROOT, STORE, CLI, artifactFor } from './helpers.ts';

$.verbose = false;
// A bound, not a benchmark: a loaded 2-core machine stretches boots two- to three-fold.
const BOOT_LIMIT_MS = 150_000;
const SIGN_HOME = path.join(resolvePaths(process.env).home, 'test-vm', 'sign');
const SIGNED_STORE = path.join(SIGN_HOME, 'store');
let share = '';

/** A throwaway signing key, made once and kept so the signed build is a cache hit on later runs. */
async function testKey(): Promise<{ key: string; cert: string }> {
  const key = path.join(SIGN_HOME, 'signing.key');
  const cert = path.join(SIGN_HOME, 'signing.crt');
  if (!(await fs.pathExists(cert))) {
    await fs.mkdirp(SIGN_HOME);
    await $`openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 36500 -subj /CN=nbdforge-vm-test-signing-key -addext subjectKeyIdentifier=hash -keyout ${key} -out ${cert}`;
  }
  return { key, cert };
}

test.before(async () => {
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-sign-'));
});
test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('sig_enforce=1: unsigned refused by prepare-host (exit 3, unchanged) and by the kernel; ours parsed by the kernel, refused for its unknown key, the plan undone', async () => {
  const { newest: krel } = await testReleases();
  const unsigned = await artifactFor(krel);
  const k = await testKey();
  const b = await $({ cwd: ROOT, nothrow: true })`node ${CLI} build --family debian12 --kernel ${krel} --store ${SIGNED_STORE} --sign-key ${k.key} --sign-cert ${k.cert}`;
  assert.is(b.exitCode, 0, b.stderr + b.stdout);
  const store = new DirStore(SIGNED_STORE);
  const [entry] = await store.list({ kernelRelease: krel, module: 'nbd' });
  const signedBytes = await fs.readFile(store.artifactPath(entry));
  assert.ok(signedBytes.subarray(-28).toString() === '~Module signature appended~\n');

  for (const [from, file] of [[STORE, 'unsigned.sh'], [SIGNED_STORE, 'signed.sh']]) {
    const r = await $({ cwd: ROOT, nothrow: true })`node ${CLI} prepare-host --from ${from} --kernel ${krel} --emit-script ${path.join(share, file)}`;
    assert.is(r.exitCode, 0, r.stderr + r.stdout);
  }
  await fs.writeFile(path.join(share, 'unsigned.ko'), unsigned.bytes);
  await fs.writeFile(path.join(share, 'signed.ko'), signedBytes);
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  await fs.writeFile(path.join(share, 'boot.sh'), [
    `KREL=${krel}`,
    `ART_SHA=${unsigned.sha}`,
    '. /share/prepare-host-checks.sh',
    'check "the kernel enforces signatures (sig_enforce=Y)" [ "$(cat /sys/module/module/parameters/sig_enforce)" = Y ]',
    'expect_refused_unchanged unsigned unsigned.sh 3 refused',
    'check "unsigned: prepare-host says why" grep -Eq "^@nbdforge message .*enforces module signatures.*this module is unsigned.*--sign-key.*sig_enforce=Y" /tmp/unsigned.out',
    // The kernel's own verdicts, read from its log.
    'dmesg -c >/dev/null',
    'check "kernel: insmod of the unsigned module fails" sh -c "! insmod /share/unsigned.ko 2>/tmp/insmod-unsigned.err"',
    'check "kernel: rejected as an unsigned module" sh -c "dmesg | grep -q \'Loading of unsigned module is rejected\'"',
    'dmesg -c >/dev/null',
    'check "kernel: insmod of our signed module fails on this kernel" sh -c "! insmod /share/signed.ko 2>/tmp/insmod-signed.err"',
    'check "kernel: it parsed our PKCS#7 and found the key unavailable (not unsigned, not malformed)" sh -c "dmesg | grep -q \'Loading of module with unavailable key is rejected\'"',
    'dmesg | sed "s/^/    dmesg: /"',
    'sed "s/^/    insmod: /" /tmp/insmod-unsigned.err /tmp/insmod-signed.err',
    // prepare-host lets the signed module past its preconditions; the kernel's refusal undoes the plan.
    'expect_refused_unchanged signed signed.sh 1 failed modprobe failed',
    'check "signed: the modprobe step carries the kernel\'s answer" grep -q "^@nbdforge detail modprobe .*Key was rejected by service" /tmp/signed.out',
    'check "signed: installed files were undone" step_is signed install undone',
    'finish',
    '',
  ].join('\n'));
  const guest = await prepareGuest({ release: krel });
  const logFile = path.join(share, 'boot.console.log');
  const r = await guest.boot({ share, script: 'boot.sh', logFile, timeoutMs: 3 * BOOT_LIMIT_MS, kernelArgs: ['module.sig_enforce=1'] });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${krel} sig_enforce=1: exit ${r.exitCode}, ${checks.length - 1 - failed.length} checks ok, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-4000)}`);
  assert.ok(checks.length > 10, `too few checks ran:\n${r.console.slice(-3000)}`);
});

test.run();
