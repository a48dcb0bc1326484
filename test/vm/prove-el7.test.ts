/**
 * nbdforge prove --family el7 for real, with the one stand-in of test/docker/el7-build.test.ts said
 * plainly: no CentOS vault is reachable here, so the fixture vault's kernel is a REAL Debian 6.1
 * kernel packaged under an el-style name (test/fixtures/el7-trees.ts): its headers tree as
 * kernel-devel-6.1.0-<abi>.el7.x86_64.rpm, its vmlinuz and module tree (nbd taken out) as
 * kernel-6.1.0-<abi>.el7.x86_64.rpm, both built by rpmbuild, signed by rpmsign, in createrepo_c
 * repodata signed with a test key, served on 127.0.0.1. The module is built against the renamed
 * tree (vermagic says the el name); the kernel booted still says `uname -r` 6.1.0-<abi>-amd64, and
 * loads it because with CONFIG_MODVERSIONS the loader skips vermagic's release word and checks every
 * CRC instead. The proof records the el package's name, version and sha256, and the release the
 * guest reported. One guest boot; the refusals (no kernel RPM in the catalog, a vault RPM whose
 * sha256 is not the catalog's) boot nothing and store nothing.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectEngine } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { readStoredProof } from '../../src/artifacts/proof-record.ts';
import { CHECKS } from '../../src/prove/verdict.ts';
import { canonicalJson, sha256, sha256File } from '../../src/util/hash.ts';
import { resolvePaths } from '../../src/paths.ts';
import { buildVault, type FixtureKernel, type VaultFixture } from '../fixtures/vault/build-vault.ts';
import { keptVault, type KeptVault } from '../fixtures/vault/cached-vault.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';
import { debianSide, debianTree, elKernelImage, elTree } from '../fixtures/el7-trees.ts';
import { cliWith } from './helpers.ts';

const docker = await connectEngine(process.env);
const deb = await debianSide(docker);
const REL = '7.9.2009';
const kernel: FixtureKernel = { release: REL, repo: 'os', version: `6.1.0-${deb.abi}.el7` };
const krel = `${kernel.version}.x86_64`;
const rpmName = `kernel-${krel}.rpm`;

/**
 * Kept between runs under $NBDFORGE_HOME/test-vm, keyed by every input (the Debian kernel's packages,
 * the fixture code): the vault (minutes to make) and this test's own nbdforge home, whose store holds
 * the el7 build (a cache hit from the second run on) and never a proof: proofs go to stores made here.
 */
const fixtureCode = await Promise.all(['../fixtures/vault/build-vault.ts', '../fixtures/el7-trees.ts'].map((f) => fs.readFile(new URL(f, import.meta.url), 'utf8')));
const inputs = sha256(canonicalJson({ debian: deb.kernel.files.map((f) => f.sha256), kernel, fixtureCode })).slice(0, 16);
const KEPT = path.join(resolvePaths(process.env).home, 'test-vm', `prove-el7-${inputs}`);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-vm-prove-el7-'));
const env: NodeJS.ProcessEnv = {
  ...process.env,
  NBDFORGE_HOME: path.join(KEPT, 'home'),
  NBDFORGE_CACHE: undefined,
  NBDFORGE_STORE: undefined,
  NBDFORGE_EL7_BUILDER: 'standin',
  NBDFORGE_EL7_DATA: path.join(dir, 'el7-data'),
};
const cli = (...args: string[]) => cliWith(env, ...args);
const catalogFile = path.join(KEPT, 'home', 'cache', 'catalog', 'el7.json');
let vault: KeptVault;
let server: FixtureServer;
let rpmSha = '';

interface ProveJson {
  counts: Record<string, number>;
  kernels: Array<{ kernelRelease: string; status: string; vermagic?: string; reason?: string; bootMs: number; checks?: Array<{ name: string; ok: boolean; detail: string }>; kernelPackage?: { name: string; version: string; sha256: string } }>;
}
const json = (out: string): ProveJson => JSON.parse(out.slice(out.indexOf('{\n')));

const T0 = Date.now();
const tick = (what: string) => process.env.NBDFORGE_TEST_TIMING && console.error(`[prove-el7] ${what}: ${((Date.now() - T0) / 1000).toFixed(1)} s`);

/** The vault: the Debian kernel's headers tree as kernel-devel, its vmlinuz and guest modules as the kernel RPM. */
async function makeVault(work: string): Promise<VaultFixture> {
  const t = await debianTree(deb);
  // the Debian kernel itself, unpacked by the debian12 family (nbd taken out), shared with the vm tier's prove test
  const guest = await deb.family.bootKernel!({ containers: dockerContainers(docker), paths: deb.paths }, deb.kernel).unpack();
  const devel = await elTree(deb.abi, t.root, path.join(work, 'trees', kernel.version), krel, false);
  const image = await elKernelImage(guest, path.join(work, 'image'), krel);
  const nbdC = await fs.readFile(t.nbdC, 'utf8');
  tick('trees made');
  return buildVault(work, { kernels: [kernel], develTree: async () => devel, kernelImage: async () => image, nbdSource: () => nbdC, payload: 'gzip' });
}

test.before(async () => {
  vault = await keptVault(path.join(KEPT, 'vault'), makeVault);
  tick('vault ready');
  server = await startFixtureServer(vault.root);
  const data = JSON.parse(await fs.readFile('kernels/el7/releases.json', 'utf8'));
  await fs.mkdir(env.NBDFORGE_EL7_DATA!, { recursive: true });
  await fs.writeFile(path.join(env.NBDFORGE_EL7_DATA!, 'releases.json'), JSON.stringify({ ...data, defaultVault: server.url, keyFile: vault.key.file, fingerprint: vault.key.fingerprint }));
  rpmSha = await sha256File(path.join(vault.root, REL, 'os', 'x86_64', 'Packages', rpmName));
});

test.after(async () => {
  await server?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test(`kernels sync, build, prove --family el7: ${krel} proven in the kernel of ${rpmName}, its sha256 in proof.json`, async () => {
  const s = await cli('kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', REL);
  assert.is(s.code, 0, s.out);
  const catalog = JSON.parse(await fs.readFile(catalogFile, 'utf8'));
  const entry = catalog.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === krel);
  assert.equal({ path: entry.kernel.path, sha256: entry.kernel.sha256 }, { path: `${REL}/os/x86_64/Packages/${rpmName}`, sha256: rpmSha }, 'the catalog pins the kernel RPM by the repodata');

  tick('synced');
  const b = await cli('build', '--family', 'el7', '--kernel', krel, '--json');
  assert.is(b.code, 0, b.out);
  assert.is(json(b.out).kernels[0].vermagic, `${krel} SMP preempt mod_unload modversions`);
  // stores of this run: one to prove in, one for the refusals below
  const store = path.join(dir, 'proven');
  for (const s of [store, path.join(dir, 'unproven')]) assert.is((await cli('store', 'merge', path.join(KEPT, 'home', 'store'), '--into', s)).code, 0);
  tick('built');
  // the kernel RPM unpacked anew every run (the kept home has it from the last one): fetch checks, rpm2cpio, the cpio reader
  await fs.rm(path.join(KEPT, 'home', 'cache', 'el7', 'derived', `boot-${rpmSha}`), { recursive: true, force: true });
  // --force: a real boot every run (the kept home's prove cache knows this key from the last one)
  const r = await cli('prove', '--family', 'el7', '--store', store, '--kernels', krel, '--accel', 'tcg', '--force', '--json');
  tick('proven');
  assert.is(r.code, 0, r.out);
  const res = json(r.out);
  assert.equal(res.counts, { proven: 1, cached: 0, failed: 0, unproven: 0 });
  const [k] = res.kernels;
  assert.ok(k.bootMs > 0, 'a real boot');
  assert.equal(k.checks!.map((c) => [c.name, c.ok]), CHECKS.map((n) => [n, true]), JSON.stringify(k.checks));
  assert.equal(k.kernelPackage, { name: 'kernel', version: kernel.version, sha256: rpmSha });
  // what booted is said as the guest said it: the Debian kernel inside the el-named package
  assert.match(k.checks!.find((c) => c.name === 'boot')!.detail, `kernel 6.1.0-${deb.abi}-amd64 reached`);
  const s2 = new DirStore(store);
  const [a] = await s2.list({ family: 'el7', kernelRelease: krel });
  const stored = await readStoredProof(store, a);
  assert.ok(stored, 'proof.json in the store');
  assert.is(stored.proof.kernelPackage.sha256, rpmSha);
  assert.is(stored.proof.family, 'el7');
  assert.is(stored.proof.module.sha256, a.sha256);
  assert.ok(stored.proof.dmesg.some((l) => /nbd0: p1/.test(l)), stored.proof.dmesg.join(' | '));

  // cache du names the kernel RPM and what prove unpacked from it
  const du = await cli('cache', 'du', '--family', 'el7', '--json');
  assert.is(du.code, 0, du.out);
  const files = JSON.parse(du.out).kernels.find((x: { kernelRelease: string }) => x.kernelRelease === krel).files as Array<{ path: string; role: string }>;
  assert.ok(files.some((f) => f.role === `kernel (${rpmName})`), JSON.stringify(files));
  assert.ok(files.some((f) => f.role === 'bootable kernel (prove)' && f.path.endsWith(`boot-${rpmSha}`)), JSON.stringify(files));
});

test('prove --family el7: a catalog without the kernel RPM leaves the artifact unproven; a vault RPM not matching the catalog\'s sha256 fails; nothing stored, no boot', async () => {
  const store = path.join(dir, 'unproven');
  const saved = await fs.readFile(catalogFile, 'utf8');
  const edit = async (f: (k: { kernel?: { sha256: string } }) => void) => {
    const c = JSON.parse(saved);
    f(c.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === krel));
    await fs.writeFile(catalogFile, JSON.stringify(c));
  };
  try {
    // a catalog synced before kernel RPMs were recorded
    await edit((k) => delete k.kernel);
    const old = await cli('prove', '--family', 'el7', '--store', store, '--kernels', krel, '--accel', 'tcg', '--json');
    assert.is(old.code, 1, old.out);
    const [u] = json(old.out).kernels;
    assert.is(u.status, 'unproven');
    assert.match(u.reason!, /no bootable kernel in the el7 catalog for .*run: nbdforge kernels sync --family el7/);
    // the catalog pins another sha256 than the vault's RPM has
    await edit((k) => (k.kernel!.sha256 = `${k.kernel!.sha256.slice(0, 63)}${k.kernel!.sha256.endsWith('0') ? '1' : '0'}`));
    const bad = await cli('prove', '--family', 'el7', '--store', store, '--kernels', krel, '--accel', 'tcg', '--json');
    assert.is(bad.code, 1, bad.out);
    const [f] = json(bad.out).kernels;
    assert.is(f.status, 'failed');
    assert.match(f.reason!, /sha256|checksum/i);
    for (const x of [u, f]) assert.is(x.bootMs, 0, 'no guest');
    const [a] = await new DirStore(store).list({ family: 'el7', kernelRelease: krel });
    assert.is(await readStoredProof(store, a), undefined, 'no proof stored');
    assert.not.ok(await fs.access(path.join(path.dirname(new DirStore(store).artifactPath(a)), 'proof.json')).then(() => true, () => false));
  } finally {
    await fs.writeFile(catalogFile, saved);
  }
});

test.run();
