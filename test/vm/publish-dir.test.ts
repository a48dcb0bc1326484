/**
 * `nbdforge publish --to dir` end to end on real Debian kernels under QEMU TCG: the real pipeline's
 * modules for the newest and the oldest ABI (test-vm store), published with a throwaway gpg key,
 * served by an http server this test starts on 127.0.0.1, which the guests reach over QEMU's user
 * network as 10.0.2.2. Each guest pipes install.sh into its own sh: the newest with curl into dash,
 * the oldest with busybox wget into busybox sh, a third kernel the tree lacks must refuse. Tampered
 * copies (index, module) and an unsigned tree are refused first, the guest unchanged. The newest
 * artifact travels with a fixture proof record (a private copy of the store): install.sh checks it and
 * says so; the oldest is unproven, and --require-proof refuses it. One boot per kernel.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { $, fs, path, os } from 'zx';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import { prepareGuest, availableReleases, testReleases, type Guest } from '../../scripts/vm/harness.ts';
import { ROOT, STORE, CLI, artifactFor, type Artifact } from './helpers.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';
import { serveDir } from './site.ts';

$.verbose = false;
// TCG on a 2-core machine shared with other work: a quiet machine does the newest boot in about 60 s
const BOOT_LIMIT_MS = 180_000;
const NET = ['virtio_net'];
const TOOLS = ['/usr/bin/curl', '/usr/bin/gpgv'];
let share = '';
let gnupg = '';
let fpr = '';
let base = '';
let server: http.Server;
let newest: Artifact;
let older: Artifact;
let missing = '';
/** A private copy of the store in which the newest artifact carries a (fixture) proof record; the shared store stays unproven. */
let own = '';

async function bootWith(release: string, k: { sha: string } | undefined, name: string, body: string[]): Promise<void> {
  const guest: Guest = await prepareGuest({ release, modules: NET, tools: TOOLS });
  await fs.writeFile(
    path.join(share, name),
    [`KREL=${release}`, `ART_SHA=${k?.sha ?? ''}`, `BASE=${base}`, '. /share/publish-dir-checks.sh', 'check "network up" net_up', ...body, 'finish', ''].join('\n'),
  );
  const logFile = path.join(share, `${name}.console.log`);
  const r = await guest.boot({ share, script: name, logFile, modules: NET, timeoutMs: 3 * BOOT_LIMIT_MS, extraArgs: ['-nic', 'user,model=virtio-net-pci'] });
  const checks = r.console.split('\n').filter((l) => l.startsWith('CHECK'));
  const failed = checks.filter((l) => l.startsWith('CHECK FAIL'));
  console.log(`  [vm] ${release} ${name}: exit ${r.exitCode}, ${checks.length - failed.length} checks ok, ${(r.wallMs / 1000).toFixed(1)} s`);
  assert.is(r.exitCode, 0, `guest ${release} ${name}: exit ${r.exitCode}${r.timedOut ? ' (timed out)' : ''}\n${failed.join('\n')}\nconsole: ${logFile}\n${r.console.slice(-5000)}`);
  assert.ok(checks.length >= 5, `too few checks ran:\n${r.console.slice(-3000)}`);
  assert.ok(r.wallMs < BOOT_LIMIT_MS, `boot took ${r.wallMs} ms (limit ${BOOT_LIMIT_MS})`);
}

test.before(async () => {
  const rel = await testReleases();
  const all = await availableReleases();
  // a kernel apt has that the published tree will not: the one just below the newest
  missing = process.env.NBDFORGE_VM_KERNELS?.split(',')[2] ?? all.filter((r) => r !== rel.newest && r !== rel.older).pop() ?? '';
  assert.ok(missing, 'apt offers no third kernel for the refusal guest');
  newest = await artifactFor(rel.newest);
  older = await artifactFor(rel.older);
  share = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-publish-dir-'));
  await fs.copy(path.join(ROOT, 'test/vm/guest/prepare-host-checks.sh'), path.join(share, 'prepare-host-checks.sh'));
  await fs.copy(path.join(ROOT, 'test/vm/guest/publish-dir-checks.sh'), path.join(share, 'publish-dir-checks.sh'));

  // the site, served from this machine's loopback only; the guest sees it as 10.0.2.2
  const site = path.join(share, 'site');
  const served = await serveDir(site);
  server = served.server;
  base = `http://10.0.2.2:${served.port}`;

  gnupg = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-gnupg-'));
  await fs.chmod(gnupg, 0o700);
  const env = { ...process.env, GNUPGHOME: gnupg };
  execFileSync('gpg', ['--batch', '--quiet', '--passphrase', '', '--quick-gen-key', 'nbdforge vm test <vm@nbdforge.invalid>', 'ed25519', 'sign', 'never'], { env, stdio: 'ignore' });
  fpr = execFileSync('gpg', ['--batch', '--with-colons', '--list-secret-keys'], { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n').find((l) => l.startsWith('fpr:'))!.split(':')[9];
  own = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-proven-store-'));
  await fs.copy(STORE, own);
  await proveStoreFixture(own, (k) => k === newest.release);
  const publish = async (dir: string, more: string[]) => {
    const r = await $({ cwd: ROOT, env, nothrow: true })`node ${CLI} publish --store ${own} --kernels ${`${newest.release},${older.release}`} --to ${`dir:${path.join(site, dir)}`} --url ${`${base}/${dir}`} ${more}`;
    assert.is(r.exitCode, 0, `publish ${dir}: ${r.stderr}${r.stdout}`);
  };
  await publish('good', ['--gpg-key', fpr]);
  await publish('unsigned', ['--unsigned']);
  for (const d of ['bad-index', 'bad-module']) await fs.copy(path.join(site, 'good'), path.join(site, d));
  const idx = JSON.parse(await fs.readFile(path.join(site, 'good', 'index.json'), 'utf8'));
  const a = idx.artifacts.find((x: { kernelRelease: string }) => x.kernelRelease === newest.release);
  // index: the other kernel's module under this kernel's sha256 (a swap an attacker would try)
  const other = idx.artifacts.find((x: { kernelRelease: string }) => x.kernelRelease === older.release);
  await fs.writeFile(path.join(site, 'bad-index', 'index.json'), (await fs.readFile(path.join(site, 'good', 'index.json'), 'utf8')).replace(`"path":"${a.path}"`, `"path":"${other.path}"`).replace(`"sha256":"${a.sha256}"`, `"sha256":"${other.sha256}"`));
  const mod = await fs.readFile(path.join(site, 'good', a.path));
  mod[mod.length >> 1] ^= 0x01;
  // both copies: the artifact directory's and the kernels/<release>/ one install.sh fetches with the
  // index (with only that one tampered, install.sh falls back to the index's path: the unit tests)
  for (const f of [a.path, `kernels/${newest.release}/nbd.ko`]) await fs.writeFile(path.join(site, 'bad-module', f), mod);
});

test.after(async () => {
  server?.close();
  if (gnupg) await fs.remove(gnupg);
  if (own) await fs.remove(own);
  if (share && !process.env.NBDFORGE_KEEP_VM_SHARE) await fs.remove(share);
});

test('newest kernel: tampered index, tampered module and an unsigned tree refused with the guest unchanged; curl | sh installs and loads its module and says it was proven; a re-run changes nothing', async () => {
  await bootWith(newest.release, newest, 'boot-newest.sh', [
    'expect_install_refused tampered-index "does not verify" curl sh --from "$BASE/bad-index"',
    'expect_install_refused tampered-module "sha256 [0-9a-f]*, the index says" curl sh --from "$BASE/bad-module"',
    'check "tampered-module: tried the index\'s path after the kernels/ copy" grep -q "downloading by the index\'s paths instead" /tmp/tampered-module.out',
    'expect_install_refused unsigned "no index.json.sig at .*: the index is not signed" curl sh --from "$BASE/unsigned"',
    'expect_install_loaded install curl sh',
    'check "install: says the module was proven in its own kernel" grep -q "proven in $KREL on 2026-12-01 (.*proof.json matches its sha256 in the index)" /tmp/install.out',
    'check "install: took the kernels/ copies fetched with the index" grep -q "kernels/$KREL/nbd.ko: [0-9]* bytes, sha256 and vermagic" /tmp/install.out',
    'piped rerun curl sh',
    'check "rerun: exit 0" [ "$RC" = 0 ]',
    'check "rerun: outcome unchanged" grep -q "^@nbdforge outcome unchanged" /tmp/rerun.out',
  ]);
});

test('oldest kernel: wget | busybox sh refuses it unproven under --require-proof, then installs and loads its own module', async () => {
  await bootWith(older.release, older, 'boot-older.sh', [
    'export NBDFORGE_DOWNLOADER=wget',
    'expect_install_refused unproven "is not proven in its own kernel .* and --require-proof is set" wget "busybox sh" --require-proof',
    'expect_install_loaded install wget "busybox sh"',
    'check "install: says the module is not proven" grep -q "not proven in its own kernel" /tmp/install.out',
  ]);
});

test('a kernel the tree lacks: refused with the list of kernels it has, guest unchanged', async () => {
  const list = [older.release, newest.release].sort((a, b) => a.localeCompare(b, undefined, { numeric: true })).join(' ');
  await bootWith(missing, undefined, 'boot-missing.sh', [`expect_install_refused missing "no nbd.ko for kernel ${missing} at .*; it has: ${list}" curl sh`]);
});

test.run();
