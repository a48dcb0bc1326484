/**
 * The real CLI against a real kernel over ssh, the way an operator prepares a host that has no Node:
 * `nbdforge prepare-host --ssh` reads the guest's facts, picks the artifact for the kernel it finds,
 * and runs the plan through `ssh ... sh -s`. Guest: the newest Debian ABI without nbd.ko, dropbear on
 * a loopback-only forward. One boot: refused as a non-root user, dry run, run, re-run, --json.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { prepareGuest, testReleases } from '../../scripts/vm/harness.ts';
import { ensureDropbear, freePort, makeKey, sshOptions, guestSshSetup } from '../../scripts/vm/ssh.ts';
import { ROOT, STORE, CLI, artifactFor, type Artifact } from './helpers.ts';

$.verbose = false;
// A bound, not a benchmark: a loaded 2-core machine stretches boots two- to three-fold.
const BOOT_LIMIT_MS = 150_000;
let share = '';
let art: Artifact;

test.before(async () => {
  const { newest } = await testReleases();
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-ssh-'));
  [art] = await Promise.all([artifactFor(newest), ensureDropbear()]);
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
});

test.after(async () => {
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('prepare-host --ssh on a real kernel: non-root refused, dry run changes nothing, run, re-run unchanged, --json', async () => {
  const guest = await prepareGuest({ release: art.release, modules: ['virtio_net'], tools: [await ensureDropbear()] });
  const { key } = await makeKey(share);
  const port = await freePort();
  await fs.writeFile(
    path.join(share, 'boot-ssh.sh'),
    [
      `KREL=${art.release}; ART_SHA=${art.sha}`,
      '. /share/prepare-host-checks.sh',
      'before=$(snapshot)',
      guestSshSetup('id.pub'),
      'i=0; while [ ! -e /share/host-dry-done ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done',
      'check "non-root and dry runs changed nothing" [ "$(snapshot)" = "$before" ]',
      'touch /share/guest-checked',
      'i=0; while [ ! -e /share/host-done ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i + 1)); done',
      'check "nbd loaded from extra/" [ "$(modinfo -n nbd)" = /lib/modules/$KREL/extra/nbd.ko ]',
      's=$(sha256sum /lib/modules/$KREL/extra/nbd.ko); check "installed module is the artifact" [ "${s%% *}" = "$ART_SHA" ]',
      'check "nbds_max=16 max_part=15" [ "$(cat /sys/module/nbd/parameters/nbds_max) $(cat /sys/module/nbd/parameters/max_part)" = "16 15" ]',
      'finish',
      '',
    ].join('\n'),
  );

  let ready!: () => void;
  const isReady = new Promise<void>((r) => (ready = r));
  const booting = guest.boot({
    share,
    script: 'boot-ssh.sh',
    modules: ['virtio_net'],
    forwards: [{ hostPort: port, guestPort: 22 }],
    logFile: path.join(share, 'console.log'),
    timeoutMs: 3 * BOOT_LIMIT_MS,
    onLine: (l) => l.includes('NBDFORGE-SSH-READY') && ready(),
  });
  await Promise.race([isReady, booting.then((r) => assert.unreachable(`guest ended before ssh was ready:\n${r.console.slice(-3000)}`))]);

  const opts = sshOptions(key, port).flatMap((o) => ['--ssh-option', o]);
  const cli = (user: string, ...more: string[]) => $({ cwd: ROOT, nothrow: true, quiet: true })`node ${CLI} prepare-host --from ${STORE} --ssh ${user + '@127.0.0.1'} ${opts} ${more}`;
  try {
    const t0 = Date.now();
    const tester = await cli('tester');
    assert.is(tester.exitCode, 3, tester.stdout + tester.stderr);
    assert.match(tester.stdout, /result: refused: prepare-host must run as root: running as uid 1000/);

    const dry = await cli('root', '--dry-run');
    assert.is(dry.exitCode, 0, dry.stdout + dry.stderr);
    assert.match(dry.stdout, new RegExp(`# plan prepare-host on ssh root@127\\.0\\.0\\.1: install nbd\\.ko for ${art.release.replace(/\./g, '\\.')}`));
    assert.match(dry.stdout, /^depmod -a 6\.1\.0-\d+-amd64$/m);
    await fs.writeFile(path.join(share, 'host-dry-done'), '');
    for (let i = 0; i < 600 && !(await fs.pathExists(path.join(share, 'guest-checked'))); i++) await new Promise((r) => setTimeout(r, 100));

    const first = await cli('root');
    assert.is(first.exitCode, 0, first.stdout + first.stderr);
    assert.match(first.stdout, new RegExp(`prepare-host on ssh root@127\\.0\\.0\\.1: kernel ${art.release.replace(/\./g, '\\.')}`));
    assert.match(first.stdout, /^install +done /m);
    assert.match(first.stdout, /^result: changed \(/m);
    console.log(first.stdout.replace(/^/gm, '    '));

    const second = await cli('root');
    assert.is(second.exitCode, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /^result: unchanged \(nothing changed: 24 steps already done, 2 checks passed\)$/m);
    assert.not.match(second.stdout, / done /);

    const json = await cli('root', '--json');
    assert.is(json.exitCode, 0, json.stderr);
    const report = JSON.parse(json.stdout);
    assert.is(report.result.outcome, 'unchanged');
    assert.is(report.kernelRelease, art.release);
    assert.is(report.facts.nbd.loaded, true);
    assert.is(report.facts.nbd.extraSha256, art.sha);

    // --status over ssh: the running kernel's module, and the hook and guard prepare-host left
    const status = await cli('root', '--status');
    assert.is(status.exitCode, 0, status.stderr);
    console.log(status.stdout.replace(/^/gm, '    '));
    assert.match(status.stdout, new RegExp(`^  \\* ${art.release.replace(/\./g, '\\.')} +exact: /lib/modules/${art.release.replace(/\./g, '\\.')}/extra/nbd\\.ko \\(sha256 ${art.sha.slice(0, 12)}\\.\\.\\.\\), installed by prepare-host$`, 'm'));
    assert.match(status.stdout, /^kernel hook: postinst\.d in place, postrm\.d in place, configuration in place$/m);
    assert.match(status.stdout, /^boot guard: unit in place, enabled/m);
    assert.is(report.artifact.sha256, art.sha);
    console.log(`  [vm] ssh: five CLI runs in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  } finally {
    await fs.writeFile(path.join(share, 'host-done'), '');
  }
  const r = await booting;
  const failed = r.console.split('\n').filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${art.release} boot-ssh.sh: exit ${r.exitCode}, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `${failed.join('\n')}\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms`);
});

test.run();
