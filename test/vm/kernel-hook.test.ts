/**
 * The kernel hook and the boot guard on a real Debian kernel under QEMU TCG (its own nbd.ko removed,
 * as in every vm guest): the real pipeline's module for the newest ABI, published with a throwaway
 * gpg key and served on 127.0.0.1 (the guest reaches it as 10.0.2.2). In the guest, the hook is
 * installed as prepare-host writes it (hook + configuration), then run the way the linux-image
 * postinst's run-parts runs it (`HOOK VERSION /boot/vmlinuz-VERSION`): the module lands byte-identical,
 * indexed, not loaded; then the guard (`--boot`) loads it for real; then, with the module gone and the
 * source down, the guard fails with its one line. Not covered here: a real `dpkg -i` of a
 * linux-image package (needs a guest with a persistent Debian root).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import { prepareGuest, testReleases, type Guest } from '../../scripts/vm/harness.ts';
import { ROOT, artifactFor, type Artifact } from './helpers.ts';
import { publishSite, type Site } from './site.ts';
import { hookLayout } from '../../src/prepare-host/kernel-hook/layout.ts';
import { renderHookConfig, HOOK_SH } from '../../src/prepare-host/kernel-hook/config.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';

$.verbose = false;
const BOOT_LIMIT_MS = 180_000;
const NET = ['virtio_net'];
const TOOLS = ['/usr/bin/curl', '/usr/bin/gpgv'];
let share = '';
let site: Site;
let art: Artifact;

test.before(async () => {
  art = await artifactFor((await testReleases()).newest);
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-kernel-hook-'));
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  await fs.copy(path.join(ROOT, 'test/vm/guest/publish-dir-checks.sh'), path.join(share, 'publish-dir-checks.sh'));
  site = await publishSite(path.join(share, 'site'), 'good', [art.release]);
  const base = `http://10.0.2.2:${site.port}`;
  const config = { fingerprint: site.fingerprint, family: 'debian12', options: parseOptions('nbds_max=16 max_part=15'), preparedFor: art.release };
  await fs.writeFile(path.join(share, 'kernel-hook.conf'), renderHookConfig({ ...config, from: `${base}/good` }) + '\n');
  await fs.writeFile(path.join(share, 'kernel-hook-down.conf'), renderHookConfig({ ...config, from: 'http://10.0.2.2:9/good' }) + '\n');
  await fs.writeFile(path.join(share, 'nbdforge-nbd'), HOOK_SH, { mode: 0o755 });
  await fs.writeFile(path.join(share, 'nbd.ko'), art.bytes);
});

test.after(async () => {
  await site?.close();
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('kernel hook in a real guest: installs the published module byte-identical (not loaded); the guard loads it; without module and source the guard fails with one line', async () => {
  const l = hookLayout();
  const guest: Guest = await prepareGuest({ release: art.release, modules: NET, tools: TOOLS });
  await fs.writeFile(
    path.join(share, 'boot.sh'),
    [
      `KREL=${art.release}`,
      `ART_SHA=${art.sha}`,
      'H=' + l.postinst,
      '. /share/publish-dir-checks.sh',
      'check "network up" net_up',
      `mkdir -p ${path.dirname(l.postinst)} ${l.confDir} /var/lib && cp /share/nbdforge-nbd "$H" && chmod 755 "$H" && cp /share/kernel-hook.conf ${l.conf}`,
      't0=$(t); "$H" "$KREL" "/boot/vmlinuz-$KREL" 2>/tmp/hook.err; RC=$?; t1=$(t); sed "s/^/    /" /tmp/hook.err',
      'check "hook: exit 0" [ "$RC" = 0 ]',
      'check "hook: says installed" grep -q "$KREL: installed /lib/modules/$KREL/extra/nbd.ko" /tmp/hook.err',
      's=$(sha256sum "/lib/modules/$KREL/extra/nbd.ko"); check "hook: module is the published artifact, byte for byte" [ "${s%% *}" = "$ART_SHA" ]',
      'check "hook: depmod indexed it" grep -q "^extra/nbd.ko:" "/lib/modules/$KREL/modules.dep"',
      'check "hook: not loaded" [ ! -d /sys/module/nbd ]',
      'check "hook: recorded" grep -q "^outcome=installed" "/var/lib/nbdforge/kernels/$KREL.last"',
      '"$H" "$KREL" "/boot/vmlinuz-$KREL" 2>/tmp/again.err; RC=$?',
      'check "hook again: already there" grep -q "already there" /tmp/again.err',
      '"$H" --boot 2>/tmp/boot.err; RC=$?; sed "s/^/    /" /tmp/boot.err',
      'check "guard: exit 0" [ "$RC" = 0 ]',
      'check "guard: nbd loaded" [ -d /sys/module/nbd ]',
      'check "guard: /dev/nbd0 is a block device" [ -b /dev/nbd0 ]',
      'rmmod nbd',
      // the same files by hand (the module already verified on this machine), for BENCHMARKS.md
      'rm -f "/lib/modules/$KREL/extra/nbd.ko"; depmod -a "$KREL"',
      't2=$(t); cp /share/nbd.ko "/lib/modules/$KREL/extra/nbd.ko" && depmod -a "$KREL"; t3=$(t)',
      'echo "BENCH hook $(awk -v a="$t0" -v b="$t1" \'BEGIN { printf "%.2f", b - a }\') by-hand $(awk -v a="$t2" -v b="$t3" \'BEGIN { printf "%.2f", b - a }\')"',
      'rm -f "/lib/modules/$KREL/extra/nbd.ko"; "$H" "$KREL" x 2>/dev/null',
      `"$H" --remove "$KREL" 2>/tmp/rm.err; cp /share/kernel-hook-down.conf ${l.conf}`,
      'check "postrm: module removed" [ ! -e "/lib/modules/$KREL/extra/nbd.ko" ]',
      '"$H" --boot 2>/tmp/boot2.err; RC=$?; sed "s/^/    /" /tmp/boot2.err',
      'check "guard without module and source: exit 1" [ "$RC" = 1 ]',
      'check "guard: one line naming the fix" [ "$(grep -c "^nbdforge-nbd-guard: kernel $KREL has no usable nbd.ko .*fix: nbdforge matrix --missing" /tmp/boot2.err)" = 1 ]',
      'check "guard: nbd not loaded" [ ! -d /sys/module/nbd ]',
      'finish',
      '',
    ].join('\n'),
  );
  const logFile = path.join(share, 'boot.console.log');
  const r = await guest.boot({ share, script: 'boot.sh', logFile, modules: NET, timeoutMs: 3 * BOOT_LIMIT_MS, extraArgs: ['-nic', 'user,model=virtio-net-pci'] });
  const checks = r.console.split('\n').filter((x) => x.startsWith('CHECK'));
  const failed = checks.filter((x) => x.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${r.console.split('\n').find((x) => x.startsWith('BENCH')) ?? 'no BENCH line'}`);
  console.log(`  [vm] ${art.release} kernel hook: exit ${r.exitCode}, ${checks.length - failed.length} checks ok, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-6000)}`);
  assert.ok(checks.length >= 15, r.console.slice(-3000));
});

test.run();
