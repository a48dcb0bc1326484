/**
 * el7 kABI reuse by the real kernel hook, in a sandbox root (kernel-hook-fixtures.ts) under every
 * shell (bash 4.2 as /bin/sh and CentOS 7.9's kmod 20 in the el7-userland tier): a kernel with no
 * artifact gets another kernel's module of the same point release linked into weak-updates/ when
 * every imported CRC matches a fixture /boot/symvers-<v>.gz, installed the way the kernel RPM's
 * %posttrans runs it (new-kernel-pkg --rpmposttrans's loop), and kmod 20's own depmod and modprobe
 * resolve it; one CRC off: refused, naming the symbol; never for a Debian family.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { hookLayout } from '../../src/prepare-host/kernel-hook/layout.ts';
import { sha } from './publish-fixtures.ts';
import { shells } from './host-fixtures.ts';
import { followStatus, renderStatus } from '../../src/prepare-host/kernel-hook/status.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { A, B, C, D, EL_VM, CRCS, elStore, elBytes, kmod20, run, host, record, debConfig, setupHookWorld, teardownHookWorld } from './kernel-hook-fixtures.ts';

test.before(setupHookWorld);
test.after(teardownHookWorld);

for (const sh of shells()) {
  const tag = `[${sh.join(' ')}]`;
  test(`${tag} el7 kABI reuse: every CRC matches symvers -> linked into weak-updates, recorded with the kernel it was built for; one CRC differs -> refused, naming the symbol; never for Debian`, async () => {
    const cfg = debConfig({ from: elStore, fingerprint: undefined, family: 'el7', preparedFor: A });
    const useKmod = kmod20.some((b) => existsSync(path.join(b, 'depmod')));
    if (process.env.NBDFORGE_EL7_BIN) assert.ok(useKmod, `kmod 20's depmod in ${process.env.NBDFORGE_EL7_BIN}`);
    const h = await host(cfg, [[A, EL_VM(A)], [B, EL_VM(B)], [C, EL_VM(C)], [D, EL_VM(D)]], useKmod ? 'kmod20' : 'stub');
    const installA = await h.hook(sh, A, `/boot/vmlinuz-${A}`);
    assert.match(installA.stderr, /installed /, installA.stderr);
    await fs.mkdir(path.join(h.root, 'boot'));
    const symvers = (crcs: typeof CRCS) => gzipSync(crcs.map((c) => `0x${c.crc.toString(16).padStart(8, '0')}\t${c.name}\tvmlinux\tEXPORT_SYMBOL\n`).join('') + '0x12345678\tunrelated\tvmlinux\tEXPORT_SYMBOL\n');
    await fs.writeFile(path.join(h.root, `boot/symvers-${B}.gz`), symvers(CRCS));
    await fs.writeFile(path.join(h.root, `boot/symvers-${C}.gz`), symvers(CRCS.map((c) => (c.name === 'blk_mq_alloc_tag_set' ? { ...c, crc: 0x99 } : c))));
    await fs.writeFile(path.join(h.root, `boot/symvers-${D}.gz`), symvers(CRCS));

    // B as the kernel RPM's %posttrans runs it: new-kernel-pkg --rpmposttrans's loop (grubby), each
    // executable postinst.d/* as "$f VERSION IMAGE", with /bin/sh being the shell under test (as bash
    // 4.2 is CentOS 7's /bin/sh); a two-word shell (bash --posix, busybox sh) runs the hook directly.
    let b;
    if (sh.length === 1) {
      const hookFile = hookLayout(h.root).postinst;
      const body = await fs.readFile(hookFile, 'utf8');
      const abs = spawnSync('sh', ['-c', 'command -v "$1"', 'sh', sh[0]], { encoding: 'utf8' }).stdout.trim();
      await fs.writeFile(hookFile, body.replace(/^#!\/bin\/sh\n/, `#!${abs}\n`));
      const loop = 'version=$1; for f in $2/*[^~] $2/$version/*[^~]; do [ -f $f -a -x $f ] || continue; $f $version /boot/vmlinuz-$version; done';
      b = await run([kmod20.map((d) => path.join(d, 'bash')).find((x) => existsSync(x)) ?? 'bash', '-c', loop, 'new-kernel-pkg', B, path.dirname(hookFile)], h.env);
      await fs.writeFile(hookFile, body);
    } else b = await h.hook(sh, B, `/boot/vmlinuz-${B}`);
    assert.is(b.code, 0, b.stderr);
    assert.match(b.stderr, new RegExp(`${B}: no artifact for ${B}; reused the one built for ${A}: all 3 imported CRCs match .*symvers-${B}\\.gz`));
    const link = path.join(h.root, 'lib/modules', B, 'weak-updates/nbd.ko');
    assert.is(await fs.readlink(link), `../../${A}/extra/nbd.ko`, 'linked, not copied');
    assert.equal(await fs.readFile(link), Buffer.from(elBytes));
    assert.match(await record(h, B), new RegExp(`how=reused\nfile=.*/weak-updates/nbd\\.ko\nlink=\\.\\./\\.\\./${A}/extra/nbd\\.ko\nbuiltFor=${A}\nsha256=${sha(elBytes)}\ncrcs=3\n`));
    if (useKmod) {
      // kmod 20's depmod indexed the link: modules.dep names weak-updates/nbd.ko for B
      assert.match(await fs.readFile(path.join(h.root, 'lib/modules', B, 'modules.dep'), 'utf8'), /^weak-updates\/nbd\.ko:/m);
      // and kmod 20's modprobe resolves nbd for B to that link
      const kbin = kmod20.find((b) => existsSync(path.join(b, 'modprobe')))!;
      const shown = spawnSync(path.join(kbin, 'modprobe'), ['-d', h.root, '-S', B, '--show-depends', 'nbd'], { encoding: 'utf8' });
      assert.match(shown.stdout, new RegExp(`^insmod ${h.root}/lib/modules/${B}/weak-updates/nbd\\.ko`, 'm'), shown.stderr);
      // what the guard's modprobe would do for B (a dry run: -n -v), with the options prepare-host recorded
      const dry = spawnSync(path.join(kbin, 'modprobe'), ['-d', h.root, '-S', B, '-n', '-v', 'nbd'], { encoding: 'utf8' });
      assert.is(dry.status, 0, dry.stderr);
      assert.match(dry.stdout, new RegExp(`^insmod ${h.root}/lib/modules/${B}/weak-updates/nbd\\.ko`, 'm'));
    }

    const c = await h.hook(sh, C, `/boot/vmlinuz-${C}`);
    assert.is(c.code, 0);
    assert.match(c.stderr, new RegExp(`not reusable: ${A} \\(symbol blk_mq_alloc_tag_set \\(CRC 0x1f2e3d4c in the module, 0x00000099 in symvers\\)\\)`));
    assert.not.ok(existsSync(path.join(h.root, 'lib/modules', C, 'weak-updates')));
    assert.match(await record(h, C, '.last'), /^outcome=refused\n/);
    if (useKmod) {
      // and kmod 20 finds no nbd for C: nothing was linked, nothing indexed
      const kbin = kmod20.find((b) => existsSync(path.join(b, 'modprobe')))!;
      await run([path.join(kbin, 'depmod'), '-b', h.root, C], h.env);
      const none = spawnSync(path.join(kbin, 'modprobe'), ['-d', h.root, '-S', C, '--show-depends', 'nbd'], { encoding: 'utf8' });
      assert.is.not(none.status, 0, none.stdout);
      assert.match(none.stderr, /Module nbd not found/);
    }

    const d = await h.hook(sh, D, 'x');
    assert.match(d.stderr, /no artifact of the same el point release \(3\.10\.0-957\.el7\.x86_64\) to reuse/);

    const status = await run([...sh, path.join(h.root, 'etc/kernel/postinst.d/nbdforge-nbd'), '--status'], h.env);
    assert.match(status.stdout, new RegExp(`kernel=${B} how=reused .*builtFor=${A} crcs=3`));
    assert.match(status.stdout, new RegExp(`kernel=${C} how=missing last=no module for`));

    // prepare-host --status reads the same through a runner (local here, ssh the same way)
    const st = await followStatus(new LocalRunner({ env: h.env }));
    assert.equal(st.hook, { postinst: true, postrm: true, config: true });
    assert.equal(st.guard, { unit: true, enabled: true });
    assert.equal(st.kernels.find((k) => k.kernel === B), { kernel: B, how: 'reused', running: false, file: `${h.root}/lib/modules/${B}/weak-updates/nbd.ko`, sha256: sha(elBytes), builtFor: A, crcs: 3 });
    assert.is(st.kernels.find((k) => k.kernel === A)!.how, 'exact');
    assert.match(st.kernels.find((k) => k.kernel === C)!.last!, /symbol blk_mq_alloc_tag_set/);
    const shown = renderStatus('local', st);
    assert.match(shown, new RegExp(`${B.replace(/\./g, '\\.')} +reused: built for ${A.replace(/\./g, '\\.')}, all 3 imported CRCs match /boot/symvers-`));
    assert.match(shown, /kernel hook: postinst\.d in place, postrm\.d in place, configuration in place\nboot guard: unit in place, enabled\n/);

    // postrm for B removes the link only; A's module stays
    await h.postrm(sh, B, 'x');
    assert.not.ok(existsSync(path.join(h.root, 'lib/modules', B, 'weak-updates')));
    assert.ok(existsSync(path.join(h.root, 'lib/modules', A, 'extra/nbd.ko')));

    // the same store and symvers for a Debian family: no reuse, ever
    const deb = await host({ ...cfg, family: 'debian12' }, [[A, EL_VM(A)], [B, EL_VM(B)]]);
    await deb.hook(sh, A, 'x');
    await fs.mkdir(path.join(deb.root, 'boot'));
    await fs.writeFile(path.join(deb.root, `boot/symvers-${B}.gz`), symvers(CRCS));
    const nb = await deb.hook(sh, B, 'x');
    assert.match(nb.stderr, /no module for .* yet/);
    assert.not.ok(existsSync(path.join(deb.root, 'lib/modules', B, 'weak-updates')));
  });
}

test.run();
