/**
 * The el7 pipeline end to end, with one stand-in, said plainly:
 *
 * centos:7 images cannot be pulled on this machine, so the builder is containers/el7-standin: Debian 12
 * with gcc-12, running the same containers/el7/build.sh. The kernel-devel RPM holds a REAL kbuild
 * tree, the Debian 6.1 headers tree the debian12 family derives, merged into one self-contained
 * directory and repackaged under an el-style name (6.1.0-<abi>.el7). Its baked-in release
 * (include/generated/utsrelease.h, include/config/kernel.release) is rewritten to that el-style
 * name, as a kernel built under that name would carry; build.sh refuses a tree whose release is not
 * the catalog's, and vermagic is then checked against the catalog's release and the tree's .config.
 * The SRPM's linux-<v>.tar.xz holds the real nbd.c of the same Debian source, plus one line that
 * uses REQ_TYPE_SPECIAL, so the patch rule has something to do.
 *
 * Everything else is real: RPMs made by rpmbuild and signed by rpmsign, repodata by createrepo_c,
 * repomd.xml signed with a test key, served over HTTP on 127.0.0.1, synced and fetched by the
 * product's code, built in a container, verified (vermagic, every CRC against Module.symvers), stored.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { $ } from 'zx';
import tar from 'tar-stream';
import { main } from '../../src/cli.ts';
import { connectEngine, LABEL } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { getFamily } from '../../src/families/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { buildOne } from '../../src/builder/build-one.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { loadPatchRules, patchRuleHashes } from '../../src/module-spec/patches.ts';
import { buildKey } from '../../src/builder/key.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import { sha256File } from '../../src/util/hash.ts';
import { buildVault, stopVaultAgents, type FixtureKernel, type VaultFixture } from '../fixtures/vault/build-vault.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';
import { debianSide, debianTree, elTree, smallTree } from '../fixtures/el7-trees.ts';

const q = $({ quiet: true });
const docker = await connectEngine(process.env);
const nbd = await loadModuleSpec('nbd');
const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

// --- The real Debian kbuild tree and nbd.c, through the debian12 family (test/fixtures/el7-trees.ts) ---
const debSide = await debianSide(docker);
const abi = debSide.abi;

// --- The vault ------------------------------------------------------------------------------------
const REL = '7.9.2009';
const withRule: FixtureKernel = { release: REL, repo: 'os', version: `6.1.0-${abi}.el7` };
const noDefine: FixtureKernel = { release: REL, repo: 'updates', version: `6.1.0-${abi}.1.el7` };
const evil: FixtureKernel = { release: REL, repo: 'updates', version: `6.1.0-${abi}.2.el7` };
/** Its kernel-devel holds a tree that says it is another kernel. */
const misnamed: FixtureKernel = { release: REL, repo: 'updates', version: `6.1.0-${abi}.3.el7` };
const krel = (k: FixtureKernel) => `${k.version}.x86_64`;

const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-build-'));
const home = path.join(dir, 'home');
const env: NodeJS.ProcessEnv = {
  ...process.env,
  NBDFORGE_HOME: home,
  NBDFORGE_CACHE: undefined,
  NBDFORGE_STORE: undefined,
  NBDFORGE_EL7_BUILDER: 'standin',
  NBDFORGE_EL7_DATA: path.join(dir, 'el7-data'),
};
const paths = resolvePaths(env);
const store = new DirStore(paths.store);
const family = getFamily('el7', env);
const ctx = { containers: dockerContainers(docker), paths };
let vault: VaultFixture;
let server: FixtureServer;
let realNbd: string;

async function cli(args: string[], over: NodeJS.ProcessEnv = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const sink = (f: (s: string) => void) => new Writable({ write: (c, _e, cb) => (f(String(c)), cb()) }) as unknown as NodeJS.WriteStream;
  const code = await main(args, { env: { ...env, ...over }, stdout: sink((s) => (out += s)), stderr: sink((s) => (err += s)) });
  // NBDFORGE_TEST_SHOW=1 prints what a user would see (the examples in docs/el7.md come from here).
  if (process.env.NBDFORGE_TEST_SHOW) console.error(`$ nbdforge ${args.join(' ')}\n${out}${err}(exit ${code})\n`);
  return { code, out, err };
}

/** Replace a kernel's SRPM by one whose linux-<v>.tar.xz also holds `linux-<v>/../../nbdforge-escape`. */
async function plantEscapingSrpm(v: VaultFixture, k: FixtureKernel): Promise<void> {
  const top = path.join(dir, 'evil');
  await fs.mkdir(path.join(top, 'SOURCES'), { recursive: true });
  const pack = tar.pack();
  pack.entry({ name: `linux-${k.version}/drivers/block/nbd.c` }, realNbd);
  pack.entry({ name: `linux-${k.version}/../../nbdforge-escape` }, 'written outside\n');
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  const tarFile = path.join(top, 'SOURCES', `linux-${k.version}.tar`);
  await fs.writeFile(tarFile, Buffer.concat(chunks));
  await q`xz -f ${tarFile}`;
  const [ver, rel] = [k.version.slice(0, k.version.indexOf('-')), k.version.slice(k.version.indexOf('-') + 1)];
  const spec = path.join(top, 'kernel.spec');
  await fs.writeFile(spec, `Name: kernel\nVersion: ${ver}\nRelease: ${rel}\nSummary: crafted\nLicense: GPLv2\nSource0: linux-%{version}-%{release}.tar.xz\n%description\ncrafted\n%prep\n%build\n%install\n%files\n`);
  await q`rpmbuild -bs --nodeps --define ${`_topdir ${top}`} ${spec}`;
  const srpm = path.join(top, 'SRPMS', `kernel-${k.version}.src.rpm`);
  await v.signRpm(srpm);
  const repo = path.join(v.root, k.release, k.repo, 'Source');
  await fs.copyFile(srpm, path.join(repo, 'SPackages', path.basename(srpm)));
  await q`createrepo_c --quiet --no-database --checksum sha256 ${repo}`;
  await v.sign(path.join(repo, 'repodata', 'repomd.xml'));
  await stopVaultAgents(v);
}

const T0 = Date.now();
const tick = (what: string) => process.env.NBDFORGE_TEST_TIMING && console.error(`[el7-build] ${what}: ${((Date.now() - T0) / 1000).toFixed(1)} s`);
test.before.each(() => void tick("test start"));
test.before(async () => {
  const t = await debianTree(debSide);
  tick('debian tree found');
  realNbd = await fs.readFile(t.nbdC, 'utf8');
  // A line as the el7 3.10.0-514 nbd.c has it: the old request type name.
  const oldStyle = `${realNbd}\n/* nbdforge test: the pre-4.5 request type name */\nstatic int nbdforge_req_type __maybe_unused = REQ_TYPE_SPECIAL;\n`;
  const first = await elTree(abi, t.root, path.join(dir, 'trees', withRule.version), krel(withRule), true);
  const trees: Record<string, string> = {
    [withRule.version]: first,
    [noDefine.version]: await elTree(abi, t.root, path.join(dir, 'trees', noDefine.version), krel(noDefine), false, first),
    [misnamed.version]: await smallTree(path.join(dir, 'trees', misnamed.version), '3.10.0-1160.el7.x86_64'),
  };
  tick('trees made');
  vault = await buildVault(dir, {
    kernels: [withRule, noDefine, evil, misnamed],
    develTree: async (k) => trees[k.version],
    nbdSource: () => oldStyle,
  });
  tick('vault built');
  await plantEscapingSrpm(vault, evil);
  server = await startFixtureServer(vault.root);
  // A kernels/el7 folder whose key is the test vault's (NBDFORGE_EL7_DATA): the shipped one pins CentOS's.
  const data = JSON.parse(await fs.readFile('kernels/el7/releases.json', 'utf8'));
  await fs.mkdir(env.NBDFORGE_EL7_DATA!, { recursive: true });
  await fs.writeFile(
    path.join(env.NBDFORGE_EL7_DATA!, 'releases.json'),
    JSON.stringify({ ...data, defaultVault: server.url, keyFile: vault.key.file, fingerprint: vault.key.fingerprint }),
  );
});

test.after(async () => {
  await server?.close();
  if (vault) await stopVaultAgents(vault);
  await fs.rm(dir, { recursive: true, force: true });
});

/** Containers this test's builds made and left (the engine is shared: other runs' are not counted). */
async function ourContainers(): Promise<number> {
  let n = 0;
  for (const k of [withRule, noDefine, evil, misnamed]) n += (await docker.listContainers({ all: true, filters: { label: [LABEL, `nbdforge.kernel=${krel(k)}`] } })).length;
  return n;
}

test('kernels sync --family el7 --vault URL, then kernels --family el7 --release', async () => {
  const s = await cli(['kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', REL]);
  assert.is(s.code, 0, s.err);
  assert.match(s.out, /4 kernel\(s\) from 4 repositories signed by/);
  const l = await cli(['kernels', '--family', 'el7', '--release', REL, '--json']);
  assert.is(l.code, 0, l.err);
  const j = JSON.parse(l.out);
  assert.equal(j.kernels.map((k: { kernelRelease: string }) => k.kernelRelease).sort(), [withRule, noDefine, evil, misnamed].map(krel).sort());
  const t = await cli(['kernels', '--family', 'el7']);
  assert.match(t.out, new RegExp(`${REL}\\s+os\\s+${krel(withRule).replaceAll('.', '\\.')}`));
});

test('before a sync: the el7 catalog is missing and the CLI says how to make it; flags of the other family are refused', async () => {
  const r = await cli(['kernels', '--family', 'el7'], { NBDFORGE_HOME: path.join(dir, 'empty-home') });
  assert.is(r.code, 2);
  assert.match(r.err, /no el7 catalog at .*; run: nbdforge kernels sync --family el7/);
  const v = await cli(['kernels', '--family', 'debian12', '--vault', server.url]);
  assert.is(v.code, 2);
  assert.match(v.err, /--vault applies to --family el7 only/);
  const m = await cli(['matrix', '--family', 'debian12', '--release', REL]);
  assert.is(m.code, 2);
  assert.match(m.err, /--release applies to --family el7 only/);
  const u = await cli(['kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', '7.99.9999']);
  assert.is(u.code, 2);
  assert.match(u.err, /unknown el7 point release 7\.99\.9999/);
});

let firstKey = '';
test(`nbdforge build --family el7: a real nbd.ko for ${krel(withRule)}, patch rule applied, vermagic and CRCs checked`, async () => {
  const r = await cli(['build', '--family', 'el7', '--kernel', krel(withRule), '--json']);
  assert.is(r.code, 0, r.err + r.out);
  const k = JSON.parse(r.out).kernels[0];
  assert.is(k.status, 'built');
  assert.is(k.vermagic, `${krel(withRule)} SMP preempt mod_unload modversions`);
  const checks = Object.fromEntries(k.checks.map((c: { name: string; ok: boolean; detail: string }) => [c.name, c]));
  assert.equal(Object.keys(checks).sort(), ['crcs', 'vermagic']);
  assert.ok(checks.vermagic.ok && checks.crcs.ok, JSON.stringify(k.checks));
  const n = Number(/^(\d+) imported symbols, all CRCs match/.exec(checks.crcs.detail)?.[1]);
  assert.ok(n > 50, checks.crcs.detail);
  assert.is(await sha256File(k.path), k.sha256);
  const [entry] = await store.list({ kernelRelease: krel(withRule) });
  const m = await store.readManifest(entry);
  const rule = loadPatchRules(nbd)[0];
  assert.is(m.inputs[`patch:${rule.id}`], rule.sha256, 'the manifest records the applied rule');
  assert.is(m.family, 'el7');
  assert.match(m.compiler, /gcc/);
  firstKey = k.key;
  assert.is(await ourContainers(), 0);
});

test('the same build again is a cache hit', async () => {
  const t0 = Date.now();
  const r = await buildOne(ctx, { family, module: nbd, store, kernelRelease: krel(withRule), toolVersion: 'test' });
  assert.is(r.status, 'cached');
  assert.is(r.key, firstKey);
  assert.ok(Date.now() - t0 < 3000, `cache hit took ${Date.now() - t0} ms`);
});

test('a changed patch rule file changes the build key', async () => {
  const rulesDir = path.join(dir, 'rules');
  await fs.mkdir(rulesDir, { recursive: true });
  const rule = loadPatchRules(nbd)[0];
  const text = await fs.readFile(path.join('kernels/patches', `${rule.id}.json`), 'utf8');
  await fs.writeFile(path.join(rulesDir, `${rule.id}.json`), text.replace('"description": "', '"description": "edited. '));
  const edited = loadPatchRules(nbd, rulesDir);
  assert.is.not(edited[0].sha256, rule.sha256);
  const { kernels } = await family.catalog(ctx);
  const k = kernels.find((x) => x.kernelRelease === krel(withRule))!;
  const base = { kernel: k, module: nbd, builderImageId: 'img', env: {}, oracle: false };
  assert.is.not(buildKey({ ...base, patches: patchRuleHashes(edited) }), buildKey({ ...base, patches: patchRuleHashes([rule]) }));
});

test(`${krel(noDefine)}: nbd.c uses REQ_TYPE_SPECIAL but the tree has no REQ_TYPE_DRV_PRIV: rule not applied, build fails`, async () => {
  const lines: string[] = [];
  const before = JSON.stringify(await store.readIndex());
  const err = await buildOne({ ...ctx, log: (l) => lines.push(l) }, { family, module: nbd, store, kernelRelease: krel(noDefine), toolVersion: 'test' }).catch((e) => e);
  assert.instance(err, ContainerError);
  const all = `${err.message}\n${(err as ContainerError).logTail}`;
  assert.match(all, /@@patch req-type-drv-priv skipped: the tree does not define REQ_TYPE_DRV_PRIV/);
  assert.match(all, /REQ_TYPE_SPECIAL.? undeclared/);
  assert.is(JSON.stringify(await store.readIndex()), before);
  assert.is(await ourContainers(), 0);
});

test(`${krel(evil)}: an SRPM tarball member "../../nbdforge-escape" is refused, nothing written outside`, async () => {
  const err = await buildOne(ctx, { family, module: nbd, store, kernelRelease: krel(evil), toolVersion: 'test' }).catch((e) => e);
  assert.instance(err, ContainerError);
  const all = `${err.message}\n${(err as ContainerError).logTail}`;
  assert.match(all, /refusing linux-[^ ]+\.tar\.xz from kernel-[^ ]+\.src\.rpm: archive member "linux-[^"]+\/\.\.\/\.\.\/nbdforge-escape" leaves the extraction directory/);
  const derived = path.join(paths.cache, 'el7', 'derived');
  for (const p of [path.join(derived, 'nbdforge-escape'), path.join(paths.cache, 'el7', 'nbdforge-escape'), path.join(paths.cache, 'nbdforge-escape')]) {
    assert.not.ok(await exists(p), `${p} was written`);
  }
  const left = (await fs.readdir(derived)).filter((d) => d.startsWith('.tmp-') || d.startsWith('src-'));
  assert.is(left.filter((d) => d.startsWith('.tmp-')).length, 0, `left: ${left.join(' ')}`);
  assert.is(await ourContainers(), 0);
});

test(`${krel(misnamed)}: a kernel-devel whose tree is another kernel's is refused before compiling`, async () => {
  const err = await buildOne(ctx, { family, module: nbd, store, kernelRelease: krel(misnamed), toolVersion: 'test' }).catch((e) => e);
  assert.instance(err, ContainerError);
  assert.match(err.message, `kernel-devel-${misnamed.version}.x86_64.rpm is a tree for "3.10.0-1160.el7.x86_64", not ${krel(misnamed)}`);
  assert.not.match(err.message, /@@stage compile/);
  assert.is(await ourContainers(), 0);
});

test('matrix --family el7 --release: the built kernel is cached, the three broken ones fail, exit 1', async () => {
  const r = await cli(['matrix', '--family', 'el7', '--release', REL, '--jobs', '2', '--json']);
  assert.is(r.code, 1, r.err);
  const j = JSON.parse(r.out);
  assert.equal(j.counts, { built: 0, cached: 1, failed: 3 });
  assert.is(j.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === krel(withRule)).status, 'cached');
});

// Last: the signed build replaces the unsigned artifact of the same kernel in the store.
test(`build --family el7 --sign-key/--sign-cert: signed after verification by the kernel-devel tree's own scripts/sign-file`, async () => {
  const key = path.join(dir, 'signing.key');
  const cert = path.join(dir, 'signing.crt');
  await q`openssl req -new -x509 -newkey rsa:2048 -nodes -sha256 -days 30 -subj /CN=nbdforge-el7-test -keyout ${key} -out ${cert}`;
  const r = await cli(['build', '--family', 'el7', '--kernel', krel(withRule), '--sign-key', key, '--sign-cert', cert, '--json']);
  assert.is(r.code, 0, r.err + r.out);
  const k = JSON.parse(r.out).kernels[0];
  assert.is(k.status, 'built');
  assert.is.not(k.key, firstKey, 'the certificate is part of the build key');
  assert.equal(k.checks.map((c: { name: string; ok: boolean }) => `${c.name}:${c.ok}`), ['vermagic:true', 'crcs:true', 'signature:true']);
  assert.match(k.signature.subject, 'CN=nbdforge-el7-test');
  // The stand-in's tree carries Debian's kbuild sign-file, which writes PKCS#7 (a CentOS 3.10 tree's writes the X.509 format).
  const [entry] = await store.list({ kernelRelease: krel(withRule) });
  const m = await store.readManifest(entry);
  assert.is(m.signature!.format, 'pkcs7');
  assert.match((await q`modinfo ${store.artifactPath(entry)}`).stdout, /signer:\s+nbdforge-el7-test/);
  // The sign-file the recipe names: the one inside the unpacked kernel-devel tree.
  const derived = path.join(paths.cache, 'el7', 'derived');
  const trees = (await fs.readdir(derived)).filter((d) => d.startsWith('devel-')).map((d) => path.join(derived, d, 'usr/src/kernels', krel(withRule)));
  const signFile = path.join((await Promise.all(trees.map(async (t) => ((await exists(t)) ? t : '')))).find(Boolean) ?? 'no-tree', 'scripts/sign-file');
  assert.ok(await exists(signFile), `${signFile} missing`);
});

test('kernels sync: a repository without repomd.xml.asc stops the sync unless --allow-unsigned-repodata', async () => {
  const asc = path.join(vault.root, REL, 'updates', 'x86_64', 'repodata', 'repomd.xml.asc');
  await fs.rename(asc, `${asc}.away`);
  try {
    const home = { NBDFORGE_HOME: path.join(dir, 'unsigned-home') };
    const r = await cli(['kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', REL], home);
    assert.is(r.code, 1);
    assert.match(r.err, new RegExp(`${REL}/updates/x86_64`));
    const a = await cli(['kernels', 'sync', '--family', 'el7', '--vault', server.url, '--release', REL, '--allow-unsigned-repodata'], home);
    assert.is(a.code, 0, a.err);
    assert.match(a.out, /4 kernel\(s\) from 3 repositories signed by .* and 1 unsigned \(RPM signatures only\)/);
  } finally {
    await fs.rename(`${asc}.away`, asc);
  }
});

test.run();
