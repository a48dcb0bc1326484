/**
 * The real kernel hook (src/host/kernel-hook/hook.sh) run the way run-parts and new-kernel-pkg run
 * it (`HOOK VERSION IMAGE`) under dash, bash in POSIX mode, busybox sh (or $NBDFORGE_TEST_SH, bash
 * 4.2 in the el7-userland tier), inside a sandbox root (NBDFORGE_ROOT: fake /lib/modules, /boot,
 * /etc) with depmod replaced by a stub that logs its argv and runs kmod's depmod with -b on the
 * sandbox. Sources: a signed published dir site and a plain store served on 127.0.0.1, and local
 * store directories; the el7 case links a module into weak-updates after comparing real __versions
 * against a fixture symvers-<v>.gz.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import { resolvePaths } from '../../src/paths.ts';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { gzipSync } from 'node:zlib';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { hookLayout } from '../../src/host/kernel-hook/layout.ts';
import { renderHookConfig, renderGuardUnit, type FollowConfig } from '../../src/host/kernel-hook/config.ts';
import { followKernelSteps } from '../../src/host/kernel-hook/steps.ts';
import { emitScript } from '../../src/host/emit-script.ts';
import { validatePlan } from '../../src/host/plan.ts';
import { shc } from '../../src/host/step.ts';
import { parseOptions } from '../../src/host/prepare-host/options.ts';
import { buildModule } from './fixtures-elf.ts';
import { gpgHome, cli, serve, sha, type GpgHome } from './publish-fixtures.ts';
import { shells } from './host-fixtures.ts';
import { followStatus, renderStatus } from '../../src/host/kernel-hook/status.ts';
import { LocalRunner } from '../../src/host/runners/local.ts';

const K56 = '6.1.0-56-amd64';
const K57 = '6.1.0-57-amd64';
const A = '3.10.0-1160.el7.x86_64';
const B = '3.10.0-1160.119.1.el7.x86_64';
const C = '3.10.0-1160.118.1.el7.x86_64';
const D = '3.10.0-957.el7.x86_64';
const DEB_VM = (k: string) => `${k} SMP preempt mod_unload modversions `;
const EL_VM = (k: string) => `${k} SMP mod_unload modversions `;
const CRCS = [
  { name: 'module_layout', crc: 0x2a1b3c4d },
  { name: 'blk_mq_alloc_tag_set', crc: 0x1f2e3d4c },
  { name: 'sock_sendmsg', crc: 0x0badcafe },
];

let tmp = '';
let gpg: GpgHome;
let server: { url: string; close: () => Promise<void> };
let elStore = '';
let debStore = '';
let elBytes: Uint8Array;
/**
 * kmod 20 (CentOS 7's): the el7-userland tier names its build (NBDFORGE_EL7_BIN, required there);
 * other tiers use the build cache when some run built it.
 */
const kmod20 = (() => {
  if (process.env.NBDFORGE_EL7_BIN) return [process.env.NBDFORGE_EL7_BIN];
  const d = path.join(resolvePaths(process.env).cache, 'el7-userland');
  try {
    return readdirSync(d).map((x) => path.join(d, x, 'bin'));
  } catch {
    return [];
  }
})();

async function putArtifact(store: string, family: string, kernelRelease: string, bytes: Uint8Array): Promise<void> {
  const src = await fs.mkdtemp(path.join(tmp, 'src-'));
  await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const vermagic = family === 'el7' ? EL_VM(kernelRelease).trim() : DEB_VM(kernelRelease).trim();
  const m: Manifest = {
    schema: 1, key: sha(`key ${family} ${kernelRelease}`), family, kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic,
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  await new DirStore(store).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

/** Run without blocking this process: the http server the hook talks to lives here too. */
function run(argv: string[], env: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(argv[0], argv.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (b) => (stdout += b));
    c.stderr.on('data', (b) => (stderr += b));
    c.on('error', reject);
    c.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

interface Host {
  root: string;
  bin: string;
  env: NodeJS.ProcessEnv;
  log: string;
  depmodCalls(): Promise<string[]>;
  hook(sh: string[], ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  postrm(sh: string[], ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** A sandbox root with kernels installed (a module of their own carrying their vermagic) and the hook in place. */
async function host(config: FollowConfig, kernels: Array<[string, string]>, depmod = 'stub'): Promise<Host> {
  const root = await fs.mkdtemp(path.join(tmp, 'root-'));
  const bin = path.join(root, '..', path.basename(root) + '-bin');
  await fs.mkdir(bin);
  const log = path.join(bin, 'depmod.log');
  await fs.writeFile(log, '');
  const real = depmod === 'kmod20' ? `exec ${kmod20.find((b) => existsSync(path.join(b, 'depmod')))}/depmod -b "$NBDFORGE_ROOT" "$@"` : 'exit 0';
  await fs.writeFile(path.join(bin, 'depmod'), `#!/bin/sh\necho "depmod $*" >> '${log}'\n${real}\n`, { mode: 0o755 });
  await fs.mkdir(path.join(root, 'etc'), { recursive: true });
  await fs.mkdir(path.join(root, 'var/lib'), { recursive: true });
  for (const [k, vm] of kernels) {
    await fs.mkdir(path.join(root, 'lib/modules', k, 'kernel/fs'), { recursive: true });
    await fs.writeFile(path.join(root, 'lib/modules', k, 'kernel/fs/ext4.ko'), buildModule({ vermagic: vm }).bytes);
  }
  const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, NBDFORGE_ROOT: root, TMPDIR: tmp };
  const l = hookLayout(root);
  const plan = validatePlan({ id: 'follow', title: 'follow kernels', preconditions: [], steps: followKernelSteps(l, config) });
  const r = spawnSync('dash', ['-s'], { input: emitScript(plan), env, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return {
    root,
    bin,
    env,
    log,
    depmodCalls: async () => (await fs.readFile(log, 'utf8')).split('\n').filter(Boolean),
    hook: (sh, ...args) => run([...sh, l.postinst, ...args], env),
    postrm: (sh, ...args) => run([...sh, l.postrm, ...args], env),
  };
}

/**
 * The sandbox's files. The highest serial accepted per source (var/lib/nbdforge/serials/, shared with
 * install.sh and prepare-host --from) is left out: it is kept on purpose after postrm and undo, so a
 * later run from the same source still refuses an older tree.
 */
async function tree(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    const p = path.relative(dir, path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    if (/^var\/lib\/nbdforge\/serials(\/|$)/.test(p)) continue;
    out.push(e.isDirectory() ? `${p}/` : e.isSymbolicLink() ? `${p} -> ${await fs.readlink(path.join(dir, p))}` : p);
  }
  const serials = out.length !== (await fs.readdir(dir, { recursive: true })).length;
  // var/lib/nbdforge/ stays when it holds the serials
  return out.filter((p) => !(serials && p === 'var/lib/nbdforge/')).sort();
}

const record = async (h: Host, k: string, suffix = '') => fs.readFile(path.join(h.root, 'var/lib/nbdforge/kernels', k + suffix), 'utf8').catch(() => '');
const debConfig = (over: Partial<FollowConfig> = {}): FollowConfig => ({
  from: `${server.url}/site`, fingerprint: gpg.fingerprint, family: 'debian12', options: parseOptions('nbds_max=16 max_part=15'), preparedFor: K56, ...over,
});

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-kernel-hook-'));
  gpg = await gpgHome();
  debStore = path.join(tmp, 'deb-store');
  await putArtifact(debStore, 'debian12', K56, buildModule({ vermagic: DEB_VM(K56), greeting: 'nbd 56', versions: CRCS }).bytes);
  await putArtifact(debStore, 'debian12', K57, buildModule({ vermagic: DEB_VM(K57), greeting: 'nbd 57', versions: CRCS }).bytes);
  const r = await cli(['publish', '--store', debStore, '--to', `dir:${path.join(tmp, 'www', 'site')}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is(r.code, 0, r.stderr + r.stdout);
  await fs.cp(debStore, path.join(tmp, 'www', 'store'), { recursive: true });
  elStore = path.join(tmp, 'el-store');
  elBytes = buildModule({ vermagic: EL_VM(A), greeting: 'nbd el7', versions: CRCS }).bytes;
  await putArtifact(elStore, 'el7', A, elBytes);
  server = await serve(path.join(tmp, 'www'));
});

test.after(async () => {
  await server.close();
  await fs.rm(tmp, { recursive: true, force: true });
});

for (const sh of shells()) {
  const tag = `[${sh.join(' ')}]`;

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

test('rollback (issue 16): the hook keeps the highest serial per source with install.sh and prepare-host, and refuses an older signed tree served again (exit 0, said, recorded)', async () => {
  const www = path.join(tmp, 'www');
  const publish = (dir: string) => cli(['publish', '--store', debStore, '--to', `dir:${path.join(www, dir)}`, '--gpg-key', gpg.fingerprint], gpg.env);
  assert.is((await publish('roll-old')).code, 0);
  await new Promise((r) => setTimeout(r, 1100)); // serials are at least the publish time in seconds
  assert.is((await publish('roll-new')).code, 0);
  const serial = async (dir: string) => JSON.parse(await fs.readFile(path.join(www, dir, 'index.json'), 'utf8')).serial as number;
  const [older, newer] = [await serial('roll-old'), await serial('roll-new')];
  assert.ok(older < newer, `${older} < ${newer}`);
  await fs.symlink('roll-new', path.join(www, 'roll'));
  const h = await host(debConfig({ from: `${server.url}/roll` }), [[K56, DEB_VM(K56)], [K57, DEB_VM(K57)]]);
  const first = await h.hook(['dash'], K57, `/boot/vmlinuz-${K57}`);
  assert.is(first.code, 0, first.stderr);
  assert.match(await record(h, K57, '.last'), /^outcome=installed\n/);
  const stateDir = path.join(h.root, 'var/lib/nbdforge/serials');
  const [file] = await fs.readdir(stateDir);
  assert.match(await fs.readFile(path.join(stateDir, file), 'utf8'), new RegExp(`^${newer} ${server.url}/roll\n$`));
  // the same URL now serves the older, validly signed tree
  await fs.rm(path.join(www, 'roll'));
  await fs.symlink('roll-old', path.join(www, 'roll'));
  const replay = await h.hook(['dash'], K56, `/boot/vmlinuz-${K56}`);
  assert.is(replay.code, 0, 'a hook never fails the kernel installation');
  assert.match(replay.stderr, new RegExp(`serial ${older}, older than serial ${newer} this host already accepted`));
  assert.match(await record(h, K56, '.last'), /^outcome=refused\n/);
  assert.not.ok(existsSync(path.join(h.root, 'lib/modules', K56, 'extra/nbd.ko')));
});

test('issue 25: a source that drips or sends without end never holds the package manager: the hook ends within NBDFORGE_TIMEOUT (or at the size cap), exit 0, says why (curl, GNU wget, busybox wget)', async () => {
  const http = await import('node:http');
  const srv = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (req.url?.startsWith('/endless/')) {
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const more = () => {
        while (!res.destroyed && res.write(chunk));
        if (!res.destroyed) res.once('drain', more);
      };
      res.on('close', () => res.destroy());
      return more();
    }
    const t = setInterval(() => res.write(' '), 1000);
    res.on('close', () => clearInterval(t));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${(srv.address() as { port: number }).port}`;
  const bb = await fs.mkdtemp(path.join(tmp, 'busybox-'));
  for (const tool of ['wget', 'timeout', 'head']) await fs.symlink('/bin/busybox', path.join(bb, tool));
  try {
    for (const [name, env] of [
      ['curl', {}],
      ['GNU wget', { NBDFORGE_DOWNLOADER: 'wget' }],
      ['busybox wget', { NBDFORGE_DOWNLOADER: 'wget', PATH: `${bb}:${process.env.PATH}` }],
    ] as Array<[string, NodeJS.ProcessEnv]>) {
      const drip = await host(debConfig({ from: `${base}/drip` }), [[K57, DEB_VM(K57)]]);
      const t0 = Date.now();
      const d = await run(['dash', path.join(drip.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, `/boot/vmlinuz-${K57}`], { ...drip.env, ...env, NBDFORGE_TIMEOUT: '3' });
      const ms = Date.now() - t0;
      assert.is(d.code, 0, `${name}: a hook never fails the kernel's installation`);
      assert.ok(ms < 10_000, `${name}: ${ms} ms for a 3 s bound`);
      assert.match(d.stderr, /source unreachable: cannot download http:\/\/127\.0\.0\.1:\d+\/drip\/index\.json: too slow \(below 1 KiB\/s for 3 s\) or not done within 3 s/, name);
      const endless = await host(debConfig({ from: `${base}/endless` }), [[K57, DEB_VM(K57)]]);
      const e = await run(['dash', path.join(endless.root, 'etc/kernel/postinst.d/nbdforge-nbd'), K57, `/boot/vmlinuz-${K57}`], { ...endless.env, ...env, NBDFORGE_TIMEOUT: '20' });
      assert.is(e.code, 0);
      assert.match(e.stderr, /more than the 16777216 bytes allowed; refusing the rest/, name);
    }
  } finally {
    srv.closeAllConnections();
    await new Promise<void>((r) => srv.close(() => r()));
  }
});

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
  const { prepareHost } = await import('../../src/host/prepare-host/prepare-host.ts');
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
