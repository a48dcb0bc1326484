/**
 * The real kernel hook (src/prepare-host/kernel-hook/hook.sh) run the way run-parts and new-kernel-pkg run
 * it (`HOOK VERSION IMAGE`) under dash, bash in POSIX mode, busybox sh (or $NBDFORGE_TEST_SH, bash
 * 4.2 in the el7-userland tier), inside a sandbox root (NBDFORGE_ROOT: fake /lib/modules, /boot,
 * /etc) with depmod replaced by a stub that logs its argv. Sources: a signed published dir site and a
 * plain store served on 127.0.0.1, and local store directories (kernel-hook-fixtures.ts). The el7
 * kABI reuse case: host-kernel-hook-el7.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { hookLayout } from '../../src/prepare-host/kernel-hook/layout.ts';
import { renderHookConfig, renderGuardUnit } from '../../src/prepare-host/kernel-hook/config.ts';
import { followKernelSteps } from '../../src/prepare-host/kernel-hook/steps.ts';
import { emitScript } from '../../src/host/emit-script.ts';
import { validatePlan } from '../../src/host/plan.ts';
import { shc } from '../../src/host/step.ts';
import { parseOptions } from '../../src/prepare-host/options.ts';
import { shells } from './host-fixtures.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';
import { K56, K57, DEB_VM, tmp, gpg, server, debStore, kmod20, run, host, tree, record, debConfig, setupHookWorld, teardownHookWorld } from './kernel-hook-fixtures.ts';

test.before(setupHookWorld);
test.after(teardownHookWorld);

for (const sh of shells()) {
  const tag = `[${sh.join(' ')}]`;

  test(`${tag} require_proof: the hook installs a module whose proof.json matches the signed index and manifest (site or store), refuses an unproven one and an edited proof`, async () => {
    // a store directory is the admin's own: read without a signature, as prepare-host reads it
    for (const [from, trust] of [[`${server.url}/proven-site`, {}], [path.join(tmp, 'www', 'proven-store'), { fingerprint: undefined, insecureNoSignature: true }]] as const) {
      const h = await host(debConfig({ from, requireProof: true, ...trust }), [[K56, DEB_VM(K56)], [K57, DEB_VM(K57)]]);
      assert.match(await fs.readFile(path.join(h.root, 'etc/nbdforge/kernel-hook.conf'), 'utf8'), /^NBDFORGE_REQUIRE_PROOF='1'$/m);
      const ok = await h.hook(sh, K57, `/boot/vmlinuz-${K57}`);
      assert.match(ok.stderr, new RegExp(`${K57}: installed .*; proof\\.json checked \\(sha256 [0-9a-f]{64}\\); depmod done`), `${from}: ${ok.stderr}`);
      const no = await h.hook(sh, K56, `/boot/vmlinuz-${K56}`);
      assert.match(no.stderr, new RegExp(`${K56}: artifact for ${K56} refused: .* is not proven in its own kernel \\(its manifest names no proof\\.json\\) and require_proof is on`), `${from}: ${no.stderr}`);
      assert.not.ok(existsSync(path.join(h.root, 'lib/modules', K56, 'extra/nbd.ko')), 'nothing installed for the unproven kernel');
    }
    const h = await host(debConfig({ from: `${server.url}/bad-proof-site`, requireProof: true }), [[K57, DEB_VM(K57)]]);
    const bad = await h.hook(sh, K57, `/boot/vmlinuz-${K57}`);
    assert.match(bad.stderr, /refused: .*proof\.json: sha256 [0-9a-f]{64}, the manifest says [0-9a-f]{64}/, bad.stderr);
    assert.not.ok(existsSync(path.join(h.root, 'lib/modules', K57, 'extra/nbd.ko')));
    // without require_proof the same unproven kernel is installed as before
    const off = await host(debConfig({ from: `${server.url}/proven-site` }), [[K56, DEB_VM(K56)]]);
    assert.match((await off.hook(sh, K56, `/boot/vmlinuz-${K56}`)).stderr, new RegExp(`${K56}: installed `));
  });

  test(`${tag} postinst from a signed published site: installed byte-identical, depmod, recorded; again: already there; postrm removes exactly that`, async () => {
    const h = await host(debConfig(), [[K56, DEB_VM(K56)], [K57, DEB_VM(K57)]]);
    const before = await tree(h.root);
    const r = await h.hook(sh, K57, `/boot/vmlinuz-${K57}`);
    assert.is(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`\\[nbdforge hook\\] ${K57}: installed .*/lib/modules/${K57}/extra/nbd\\.ko .*not loaded`));
    const site = JSON.parse(await fs.readFile(path.join(tmp, 'www/site/index.json'), 'utf8'));
    const e57 = site.artifacts.find((a: { kernelRelease: string }) => a.kernelRelease === K57);
    assert.equal(await fs.readFile(path.join(h.root, 'lib/modules', K57, 'extra/nbd.ko')), await fs.readFile(path.join(tmp, 'www/site', e57.path)));
    assert.equal(await h.depmodCalls(), [`depmod -a ${K57}`]);
    assert.match(await record(h, K57), new RegExp(`how=exact\nfile=${h.root}/lib/modules/${K57}/extra/nbd.ko\nsha256=${e57.sha256}\nmadedir=1\n`));
    assert.match(await record(h, K57, '.last'), /^outcome=installed\n/);

    const again = await h.hook(sh, K57, `/boot/vmlinuz-${K57}`);
    assert.is(again.code, 0);
    assert.match(again.stderr, /already there: .* is the artifact/);
    assert.is((await h.depmodCalls()).length, 1, 'nothing re-run when the module is already there');

    // Debian's postrm runs postrm.d on an upgrade of the same package too: the module stays
    const up = await run([...sh, path.join(h.root, 'etc/kernel/postrm.d/nbdforge-nbd'), K57, 'x'], { ...h.env, DEB_MAINT_PARAMS: 'upgrade 6.1.192-4' });
    assert.match(up.stderr, /package upgrade \(upgrade 6\.1\.192-4\): module kept/);
    assert.ok(existsSync(path.join(h.root, 'lib/modules', K57, 'extra/nbd.ko')));

    const rm = await h.postrm(sh, K57, `/boot/vmlinuz-${K57}`);
    assert.is(rm.code, 0, rm.stderr);
    assert.match(rm.stderr, /removed .*extra\/nbd\.ko/);
    assert.equal(await tree(h.root), before, 'postrm removes the module, the extra/ it made and its records: nothing else');
  });

  test(`${tag} no module for a kernel yet, a source that is down, a pinned index that moved, a tampered module: exit 0, said, recorded, nothing installed`, async () => {
    const h = await host(debConfig(), [['6.1.0-58-amd64', DEB_VM('6.1.0-58-amd64')]]);
    const none = await h.hook(sh, '6.1.0-58-amd64', '/boot/vmlinuz-6.1.0-58-amd64');
    assert.is(none.code, 0);
    assert.match(none.stderr, /6\.1\.0-58-amd64: no module for 6\.1\.0-58-amd64 yet at .* \(it has: 6\.1\.0-56-amd64 6\.1\.0-57-amd64\); build it with: nbdforge matrix --missing/);
    assert.match(await record(h, '6.1.0-58-amd64', '.last'), /^outcome=missing\n/);
    assert.not.ok(existsSync(path.join(h.root, 'lib/modules/6.1.0-58-amd64/extra')));

    const down = await host(debConfig({ from: 'http://127.0.0.1:9/site' }), [[K57, DEB_VM(K57)]]);
    const t0 = Date.now();
    const d = await down.hook(sh, K57, `/boot/vmlinuz-${K57}`);
    assert.is(d.code, 0);
    assert.match(d.stderr, new RegExp(`${K57}: source unreachable: cannot download http://127\\.0\\.0\\.1:9/site/index\\.json`));
    assert.ok(Date.now() - t0 < 30_000);
    assert.match(await record(down, K57, '.last'), /^outcome=unreachable\n/);
    assert.is((await down.depmodCalls()).length, 0);

    const pinned = await host(debConfig({ fingerprint: undefined, indexSha256: 'a'.repeat(64) }), [[K57, DEB_VM(K57)]]);
    const p = await pinned.hook(sh, K57, 'x');
    assert.is(p.code, 0);
    assert.match(p.stderr, /index\.json has sha256 [0-9a-f]{64}, not the a{64} prepare-host pinned/);

    const wrongKey = await host(debConfig({ fingerprint: 'A'.repeat(40) }), [[K57, DEB_VM(K57)]]);
    const w = await wrongKey.hook(sh, K57, 'x');
    assert.is(w.code, 0);
    assert.match(w.stderr, new RegExp(`index\\.json is signed by ${gpg.fingerprint}, not by the pinned A{40}`));

    // a local copy of the site whose module was changed after signing
    const bad = path.join(tmp, `bad-site-${sh.join('-').replace(/\W/g, '')}`);
    await fs.cp(path.join(tmp, 'www/site'), bad, { recursive: true });
    const idx = JSON.parse(await fs.readFile(path.join(bad, 'index.json'), 'utf8'));
    const f = path.join(bad, idx.artifacts.find((a: { kernelRelease: string }) => a.kernelRelease === K57).path);
    const mod = await fs.readFile(f);
    mod[mod.length >> 1] ^= 1;
    await fs.writeFile(f, mod);
    const tampered = await host(debConfig({ from: bad }), [[K57, DEB_VM(K57)]]);
    const t = await tampered.hook(sh, K57, 'x');
    assert.is(t.code, 0);
    assert.match(t.stderr, /artifact for 6\.1\.0-57-amd64 refused: .*nbd\.ko: sha256 [0-9a-f]{64}, the index says/);
    assert.not.ok(existsSync(path.join(tampered.root, 'lib/modules', K57, 'extra/nbd.ko')));

    // the kernel's own modules say another vermagic: refused
    const odd = await host(debConfig(), [[K57, `${K57} SMP mod_unload modversions `]]);
    const o = await odd.hook(sh, K57, 'x');
    assert.match(o.stderr, /differs from "6\.1\.0-57-amd64 SMP mod_unload modversions" of kernel 6\.1\.0-57-amd64's own modules; refused/);
  });

  test(`${tag} a plain store over http (insecure opt-out recorded) and a local store directory`, async () => {
    const h = await host(debConfig({ from: `${server.url}/store`, fingerprint: undefined, insecureNoSignature: true }), [[K56, DEB_VM(K56)]]);
    const r = await h.hook(sh, K56, 'x');
    assert.is(r.code, 0);
    assert.match(r.stderr, /WARNING: index\.json from .* is NOT verified/);
    assert.match(r.stderr, /installed /);
    const refused = await host(debConfig({ from: `${server.url}/store`, fingerprint: undefined }), [[K56, DEB_VM(K56)]]);
    assert.match((await refused.hook(sh, K56, 'x')).stderr, /no pin and no key recorded/);
    const local = await host(debConfig({ from: debStore, fingerprint: undefined }), [[K57, DEB_VM(K57)]]);
    // a host that enforces module signatures: installed, and told why it will not load
    await fs.mkdir(path.join(local.root, 'sys/module/module/parameters'), { recursive: true });
    await fs.writeFile(path.join(local.root, 'sys/module/module/parameters/sig_enforce'), 'Y\n');
    const l = await local.hook(sh, K57, 'x');
    assert.match(l.stderr, /installed /, l.stderr);
    assert.match(l.stderr, /WARNING: the module is unsigned and this host enforces module signatures: it will not load/);
    const [e] = await new DirStore(debStore).list({ kernelRelease: K57 });
    assert.equal(await fs.readFile(path.join(local.root, 'lib/modules', K57, 'extra/nbd.ko')), await fs.readFile(new DirStore(debStore).artifactPath(e)));
  });

}

for (const sh of shells()) {
  test(`[${sh.join(' ')}] boot guard: the running kernel without nbd gets it from the hook, then modprobe; still missing: one line, exit 1`, async () => {
    const K58 = '6.1.0-58-amd64';
    const h = await host(debConfig(), [[K57, DEB_VM(K57)], [K58, DEB_VM(K58)]]);
    const boot = async (k: string) => {
      await fs.writeFile(path.join(h.bin, 'uname'), `#!/bin/sh\necho ${k}\n`, { mode: 0o755 });
      // modprobe as the kernel would answer it: loads the module depmod indexed, else "not found"
      await fs.writeFile(path.join(h.bin, 'modprobe'), `#!/bin/sh\n[ "$1" = nbd ] && [ -f "$NBDFORGE_ROOT/lib/modules/${k}/extra/nbd.ko" ] && exit 0\necho "modprobe: FATAL: Module nbd not found in directory /lib/modules/${k}" >&2; exit 1\n`, { mode: 0o755 });
      return run([...sh, path.join(h.root, 'etc/kernel/postinst.d/nbdforge-nbd'), '--boot'], h.env);
    };
    const ok = await boot(K57);
    assert.is(ok.code, 0, ok.stderr);
    assert.match(ok.stderr, new RegExp(`${K57}: installed .*\n.*${K57}: nbd loaded`));
    const bad = await boot(K58);
    assert.is(bad.code, 1, 'the unit fails visibly');
    const line = bad.stderr.split('\n').filter((l) => l.startsWith('nbdforge-nbd-guard:'));
    assert.is(line.length, 1, bad.stderr);
    assert.match(line[0], new RegExp(`kernel ${K58} has no usable nbd\\.ko \\(modprobe: modprobe: FATAL: Module nbd not found.*; hook: no module for ${K58} yet at .*\\); fix: nbdforge matrix --missing .*nbdforge prepare-host --from http://127\\.0\\.0\\.1:\\d+/site`));
  });
}

test('undo: a failed prepare-host run removes hook, configuration, guard, records and every module the hook installed, exactly', async () => {
  for (const sh of shells()) {
    const root = await fs.mkdtemp(path.join(tmp, 'undo-'));
    await fs.mkdir(path.join(root, 'etc'), { recursive: true });
    await fs.mkdir(path.join(root, 'var/lib'), { recursive: true });
    await fs.mkdir(path.join(root, 'lib/modules', K57, 'kernel'), { recursive: true });
    const bin = await fs.mkdtemp(path.join(tmp, 'undo-bin-'));
    await fs.writeFile(path.join(bin, 'depmod'), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const before = await tree(root);
    const l = hookLayout(root);
    const plan = validatePlan({
      id: 'follow',
      title: 'follow kernels, then fail',
      preconditions: [],
      steps: [
        ...followKernelSteps(l, debConfig()),
        { id: 'kernel-update', describe: 'a kernel update runs the hook', command: [l.postinst, K57, `/boot/vmlinuz-${K57}`] },
        { id: 'breaks', describe: 'a later step fails', command: shc('[ -f "$1" ] && exit 9', path.join(root, 'lib/modules', K57, 'extra/nbd.ko')) },
      ],
    });
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const c = spawn(sh[0], [...sh.slice(1), '-s'], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, NBDFORGE_ROOT: root, TMPDIR: tmp } });
      let out = '';
      c.stdout.on('data', (b) => (out += b));
      c.stderr.on('data', (b) => (out += b));
      c.on('close', (code) => resolve({ code: code ?? 128, out }));
      c.stdin.end(emitScript(plan));
    });
    assert.is(r.code, 1, r.out);
    assert.match(r.out, /@nbdforge step breaks failed 9/);
    assert.match(r.out, /@nbdforge step kernel-hook-postinst undone/);
    assert.equal(await tree(root), before, `${sh.join(' ')}: the sandbox is as it was\n${r.out}`);
  }
});

test('invoked as the packages invoke it: Debian run-parts (--report --exit-on-error) and new-kernel-pkg --rpmposttrans\'s loop (bash 4.2 when built)', async () => {
  const h = await host(debConfig(), [[K57, DEB_VM(K57)], ['6.1.0-58-amd64', DEB_VM('6.1.0-58-amd64')]]);
  const dir = path.join(h.root, 'etc/kernel/postinst.d');
  // linux-image-6.1.0-57-amd64.postinst: run-parts --report --exit-on-error --arg=V --arg=/boot/vmlinuz-V /etc/kernel/postinst.d
  const deb = await run(['run-parts', '--report', '--exit-on-error', `--arg=${K57}`, `--arg=/boot/vmlinuz-${K57}`, dir], h.env);
  assert.is(deb.code, 0, deb.stderr);
  assert.match(deb.stderr, new RegExp(`${K57}: installed `));
  assert.ok(existsSync(path.join(h.root, 'lib/modules', K57, 'extra/nbd.ko')));
  // a kernel with no artifact: the package's configuration must still succeed
  const none = await run(['run-parts', '--report', '--exit-on-error', '--arg=6.1.0-58-amd64', '--arg=/boot/vmlinuz-6.1.0-58-amd64', dir], h.env);
  assert.is(none.code, 0);
  assert.match(none.stderr, /no module for 6\.1\.0-58-amd64 yet/);
  const rm = await run(['run-parts', '--report', '--exit-on-error', `--arg=${K57}`, `--arg=/boot/vmlinuz-${K57}`, path.join(h.root, 'etc/kernel/postrm.d')], h.env);
  assert.is(rm.code, 0);
  assert.not.ok(existsSync(path.join(h.root, 'lib/modules', K57, 'extra')));
  // grubby's new-kernel-pkg rpmposttrans(): every executable postinst.d/* as "$f $version $image"
  const bash = kmod20.map((b) => path.join(b, 'bash')).find((b) => existsSync(b)) ?? 'bash';
  const loop = 'version=$1; for f in $2/*[^~] $2/$version/*[^~]; do [ -f $f -a -x $f ] || continue; $f $version /boot/vmlinuz-$version; done';
  const el = await run([bash, '-c', loop, 'new-kernel-pkg', K57, dir], h.env);
  assert.is(el.code, 0, el.stderr);
  assert.match(el.stderr, new RegExp(`${K57}: installed `));
});

test('downloads through GNU wget and busybox wget too (NBDFORGE_DOWNLOADER=wget, as install.sh)', async () => {
  for (const wget of ['wget', 'busybox']) {
    const h = await host(debConfig(), [[K57, DEB_VM(K57)]]);
    if (wget === 'busybox') await fs.writeFile(path.join(h.bin, 'wget'), '#!/bin/sh\nexec busybox wget "$@"\n', { mode: 0o755 });
    const r = await run(['dash', path.join(h.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, 'x'], { ...h.env, NBDFORGE_DOWNLOADER: 'wget' });
    assert.is(r.code, 0);
    assert.match(r.stderr, /: installed /, `${wget}: ${r.stderr}`);
    const down = await host(debConfig({ from: 'http://127.0.0.1:9/site' }), [[K57, DEB_VM(K57)]]);
    if (wget === 'busybox') await fs.writeFile(path.join(down.bin, 'wget'), '#!/bin/sh\nexec busybox wget "$@"\n', { mode: 0o755 });
    const d = await run(['dash', path.join(down.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, 'x'], { ...down.env, NBDFORGE_DOWNLOADER: 'wget' });
    assert.is(d.code, 0);
    assert.match(d.stderr, /source unreachable: cannot download/);
  }
});

test('prepare-host shows the hook in --emit-script and leaves it out with followKernels false', async () => {
  const { prepareHost } = await import('../../src/prepare-host/prepare-host.ts');
  const runner = new LocalRunner();
  const on = await prepareHost({ runner, mode: 'emit', from: debStore, options: parseOptions('nbds_max=16'), kernelRelease: K56 });
  assert.match(on.script!, /^#   \d+\. kernel-hook-postinst: \/etc\/kernel\/postinst\.d\/nbdforge-nbd: the kernel hook/m);
  assert.match(on.script!, /^#   \d+\. guard-enable: enable the boot guard/m);
  assert.match(on.script!, /NBDFORGE_FROM=.*\/deb-store/);
  const off = await prepareHost({ runner, mode: 'emit', from: debStore, options: parseOptions('nbds_max=16'), kernelRelease: K56, followKernels: false });
  assert.not.match(off.script!, /nbdforge-nbd-guard|postinst\.d/);
});

test('guard unit: systemd 219 directives only; after the network only for a URL source', () => {
  const l = hookLayout();
  const url = renderGuardUnit(l, { from: 'https://example.invalid/nbd' });
  const dir = renderGuardUnit(l, { from: '/srv/store' });
  const known219 = new Set(['Description', 'Documentation', 'Wants', 'After', 'Before', 'Type', 'RemainAfterExit', 'ExecStart', 'TimeoutStartSec', 'StandardError', 'WantedBy']);
  for (const line of url.split('\n').filter((x) => x.includes('='))) assert.ok(known219.has(line.split('=')[0]), line);
  assert.match(url, /^Wants=network-online\.target$/m);
  assert.not.match(dir, /network-online/);
  assert.match(url, /^ExecStart=\/etc\/kernel\/postinst\.d\/nbdforge-nbd --boot$/m);
  assert.match(url, /^Type=oneshot$/m);
  assert.match(url, /^Before=.*nbdforge-nbd\.target/m);
  assert.throws(() => renderHookConfig(debConfig({ from: "http://x/it's" })), /holds a quote/);
});

test.run();
