/**
 * `yum:DIR` end to end with the real tools: rpmbuild, rpmsign, createrepo_c, gpg, and Debian's dnf
 * as the yum-compatible client installing over http://127.0.0.1 into a scratch --installroot.
 *
 * The artifacts: a real nbd.ko built by the debian12 pipeline (Docker, real headers, verified
 * against Debian's own module; cached under the download cache after the first run) is put into a
 * fresh store as el7 artifacts for el-style releases (6.1.0-<abi>.el7.x86_64), as the el7
 * stand-in builds of test/docker/el7-build.test.ts name them. The el7 build route itself
 * (vault + kernel-devel RPM of a whole tree) takes minutes; publishing only needs stored bytes.
 *
 * The installroot holds a stub kernel package (rpmbuild, here) providing kernel-uname-r = <v> and
 * /bin/sh, plus the host's dash as /bin/sh and kmod as /usr/sbin/depmod (with the libraries ldd
 * lists), so the package's %post and %postun really run depmod inside it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { $ } from 'zx';
import { createTarget } from '../../src/publish/yum/index.ts';
import { PublishRefusedError } from '../../src/publish/package-channel.ts';
import type { PublishTarget } from '../../src/publish/target.ts';
import { resolvePaths } from '../../src/paths.ts';
import { sha256File } from '../../src/util/hash.ts';
import { debianModules, exists, publishItems, storeWith, type BuiltModule } from '../fixtures/publish/built-modules.ts';
import { makeTestKeys, type TestKeys } from '../fixtures/publish/gpg-keys.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';
import { recordedTarget } from '../fixtures/publish/recorded-target.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';
import { loadItem } from '../../src/publish/select.ts';

const q = $({ quiet: true });
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pub-yum-'));
const ABI = '56';
const V1 = `6.1.0-${ABI}.el7.x86_64`;
const V2 = `6.1.0-${ABI}.1.el7.x86_64`;
let mod: BuiltModule;
let keys: TestKeys;
let server: FixtureServer;
const repo = path.join(dir, 'yum');

// The publish records live in this store: the target is rebuilt from them on every run.
const records = path.join(dir, 'records-store');
const target = (spec: string, o: { family?: string; gpgKey?: string; pruneForeign?: boolean } = {}): PublishTarget =>
  recordedTarget(
    createTarget(spec, { family: o.family ?? 'el7', gpgKey: o.gpgKey, pruneForeign: o.pruneForeign, env: keys.env, paths: { ...resolvePaths(keys.env), store: records } }),
    records,
    o.gpgKey ?? '',
  );
const items = async (name: string, rels: string[], family = 'el7') =>
  publishItems(await storeWith(path.join(dir, name), rels.map((kernelRelease) => ({ mod, family, kernelRelease }))));
const listing = async (d: string) => ((await exists(d)) ? (await fs.readdir(d, { recursive: true })).sort() : []);
const qf = async (rpm: string, fmt: string) => (await q`rpm -qp --nosignature --qf ${fmt} ${rpm}`).stdout;

test.before(async () => {
  [mod] = await debianModules(1);
  keys = await makeTestKeys(dir);
});

test.after(async () => {
  await server?.close();
  await keys?.stop();
  // dnf's librepo verifies repomd.xml.asc with a keyring of its own per repository, and its gpg
  // starts an agent there: end those before their directories go.
  for (const f of await fs.readdir(dir, { recursive: true }).catch(() => [] as string[])) {
    if (path.basename(f) === 'pubring') await q`gpgconf --homedir ${path.join(dir, f)} --kill all`.nothrow();
  }
  await q`umount ${path.join(dir, 'ro')}`.nothrow();
  await fs.rm(dir, { recursive: true, force: true });
});

test('the reason the yum target refuses Debian families, from rpmbuild itself', async () => {
  const spec = path.join(dir, 'why.spec');
  await fs.writeFile(spec, 'Name: why\nVersion: 1\nRelease: 1\nSummary: why\nLicense: MIT\nRequires: kernel-uname-r = 6.1.0-56-amd64\n%description\nwhy\n%files\n');
  const r = await $({ quiet: true, nothrow: true })`rpmbuild -bb --define ${`_topdir ${path.join(dir, 'why')}`} ${spec}`;
  assert.is.not(r.exitCode, 0);
  assert.match(r.stderr, /Invalid version \(double separator '-'\): 6\.1\.0-56-amd64/);
});

test('refused before any work, nothing written: debian12 family, missing key, Ed25519 key, read-only dir, a file', async () => {
  const el7 = await items('store-el7', [V1]);
  const deb = await items('store-deb', ['6.1.0-56-amd64'], 'debian12');
  const refused = async (t: PublishTarget, its: typeof el7, re: RegExp, where: string) => {
    const err = await t.publish(its, () => {}).catch((e) => e);
    assert.instance(err, PublishRefusedError, String(err));
    assert.match(err.message, re);
    assert.equal(await listing(where), [], `${where} was written`);
  };
  const fresh = path.join(dir, 'fresh');
  await refused(target(fresh, { family: 'debian12' }), deb, /refuses family debian12 \(6\.1\.0-56-amd64\).*rpmbuild rejects a second "-"/, fresh);
  await refused(target(fresh), deb, /refuses family debian12/, fresh);
  await refused(target(fresh, { gpgKey: 'nobody@nbdforge.invalid' }), el7, /gpg key nobody@nbdforge\.invalid: no secret key in GNUPGHOME=/, fresh);
  await refused(target(fresh, { gpgKey: keys.ed25519.fingerprint }), el7, /signs with EdDSA; CentOS 7's rpm 4\.11 verifies only RSA or DSA/, fresh);
  const ro = path.join(dir, 'ro');
  await fs.mkdir(ro);
  await q`mount -t tmpfs -o ro,size=1m nbdforge-test ${ro}`;
  await refused(target(path.join(ro, 'repo'), { gpgKey: keys.main.fingerprint }), el7, /yum:.*\/ro\/repo is not writable \(EROFS/, ro);
  const file = path.join(dir, 'a-file');
  await fs.writeFile(file, 'x');
  const err = await target(path.join(file, 'repo')).check(el7).catch((e) => e);
  assert.match(err.message, /a-file is not a directory/);
  assert.equal(await listing(fresh), []);
});

let proofSha256 = '';
test(`publish ${V1} and ${V2} signed: one kmod-nbd per kernel, the headers rpm 4.11 reads, signed repomd.xml`, async () => {
  const events: string[] = [];
  // V1 travels with a (fixture) proof record of its real sha256, V2 without one
  const store = await storeWith(path.join(dir, 'store'), [V1, V2].map((kernelRelease) => ({ mod, family: 'el7', kernelRelease })));
  await proveStoreFixture(store.root, (k) => k === V1);
  const its = await Promise.all((await store.list()).map((e) => loadItem(store, e)));
  proofSha256 = its.find((i) => i.entry.kernelRelease === V1)!.proof!.sha256;
  const out = await target(repo, { gpgKey: 'publish@nbdforge.invalid' }).publish(its, (e) => events.push(`${e.kernelRelease} ${e.stage}`));
  assert.equal(out.map((o) => o.ref).sort(), [`Packages/kmod-nbd-6.1.0-${ABI}.1.el7.x86_64.rpm`, `Packages/kmod-nbd-6.1.0-${ABI}.el7.x86_64.rpm`]);
  assert.ok(events.includes(`${V1} rpmbuild`) && events.includes(`${V2} rpmsign`), events.join('\n'));
  for (const o of out) assert.is(o.bytesSent, (await fs.stat(path.join(repo, o.ref))).size);
  const pubKey = path.join(repo, 'RPM-GPG-KEY-nbdforge');
  const dbpath = path.join(dir, 'rpmdb-check');
  await q`rpm --dbpath ${dbpath} --import ${pubKey}`;
  // rpm 4.11.3's own capabilities (lib/rpmds.c, rpmlibProvides): a package needing any other rpmlib() feature is refused there.
  const rpm411 = ['CompressedFileNames', 'FileDigests', 'PayloadFilesHavePrefix', 'PayloadIsXz', 'PayloadIsBzip2', 'PayloadIsLzma', 'VersionedDependencies',
    'ExplicitPackageProvide', 'HeaderLoadSortsTags', 'ScriptletInterpreterArgs', 'PartialHardlinkSets', 'ConcurrentAccess', 'BuiltinLuaScripts', 'FileCaps',
    'ScriptletExpansion', 'TildeInVersions'];
  for (const [v, o] of [[V1, out.find((x) => x.kernelRelease === V1)!], [V2, out.find((x) => x.kernelRelease === V2)!]] as const) {
    const rpm = path.join(repo, o.ref);
    assert.is(await qf(rpm, '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}'), `kmod-nbd-${v}`, 'NEVRA is kmod-nbd-$(uname -r)');
    assert.is(await qf(rpm, '%{PAYLOADCOMPRESSOR}'), 'xz');
    assert.is(await qf(rpm, '%{FILEDIGESTALGO}'), '8', 'sha256 file digests');
    const files = (await qf(rpm, '[%{FILENAMES} %{FILEDIGESTS}\n]')).trim().split('\n');
    const doc = `/usr/share/doc/kmod-nbd-${v}`;
    assert.equal(files.map((l) => l.split(' ')[0]).sort(), ['/etc/depmod.d/kmod-nbd.conf', `/lib/modules/${v}/extra/nbd`, `/lib/modules/${v}/extra/nbd/nbd.ko`, ...(v === V1 ? [doc, `${doc}/proof.json`] : [])]);
    if (v === V1) assert.ok(files.includes(`${doc}/proof.json ${proofSha256}`), 'the packaged proof is the stored one, byte for byte');
    assert.match(await qf(rpm, '%{DESCRIPTION}'), v === V1 ? new RegExp(`^Loaded and used in its own kernel: proven in ${v.replaceAll('.', '\\.')} on 2026-12-01 key [0-9a-f]{12} `, 'm') : /^Not proven in its own kernel/m);
    assert.ok(files.includes(`/lib/modules/${v}/extra/nbd/nbd.ko ${mod.manifest.sha256}`), 'the packaged module is the stored one, byte for byte');
    const requires = (await qf(rpm, '[%{REQUIRENAME} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]')).trim().split('\n');
    assert.ok(requires.includes(`kernel-uname-r = ${v}`), requires.join('\n'));
    for (const r of requires) {
      assert.not.ok(r.startsWith('('), `rich dependency ${r}`);
      const lib = /^rpmlib\(([^)]+)\)/.exec(r)?.[1];
      if (lib) assert.ok(rpm411.includes(lib), `rpm 4.11 lacks rpmlib(${lib})`);
      else assert.ok(r.startsWith('kernel-uname-r ') || r.startsWith('/bin/sh'), `unexpected requirement ${r}`);
    }
    assert.match(await qf(rpm, '%{PROVIDES}\n[%{PROVIDENAME}\n]'), /installonlypkg\(kernel-module\)/);
    const scripts = (await q`rpm -qp --nosignature --scripts ${rpm}`).stdout;
    assert.match(scripts, new RegExp(`postinstall scriptlet[^\\n]*\\n[^\\n]*depmod -a ${v.replaceAll('.', '\\.')}`));
    assert.match(scripts, new RegExp(`postuninstall scriptlet[^\\n]*\\n[^\\n]*depmod -a ${v.replaceAll('.', '\\.')}`));
    assert.not.match(scripts, /modprobe|insmod/, 'the package never loads the module');
    assert.match(await qf(rpm, '%{RSAHEADER:pgpsig}'), new RegExp(`^RSA/SHA256, .*Key ID ${keys.main.fingerprint.slice(-16).toLowerCase()}$`));
    assert.match((await q`rpm --dbpath ${dbpath} -K ${rpm}`).stdout, /digests signatures OK/);
  }
  const repomd = path.join(repo, 'repodata', 'repomd.xml');
  // gpgv with a keyring that holds only the published key (dearmored: no gpg home, no agent).
  await q`gpg --batch --homedir ${keys.home} --dearmor --output ${path.join(dir, 'check.gpg')} ${pubKey}`;
  await q`gpgv --keyring ${path.join(dir, 'check.gpg')} ${repomd}.asc ${repomd}`;
  const md = await fs.readFile(repomd, 'utf8');
  for (const loc of md.matchAll(/<location href="([^"]+)"/g)) assert.match(loc[1], /\.gz$/, `${loc[1]}: CentOS 7's yum reads gz`);
  const repoText = await fs.readFile(path.join(repo, 'nbdforge.repo'), 'utf8');
  for (const line of ['gpgcheck=1', 'repo_gpgcheck=1', `baseurl=file://${repo}/`, `gpgkey=file://${repo}/RPM-GPG-KEY-nbdforge`]) assert.ok(repoText.split('\n').includes(line), line);
  assert.not.ok((await fs.readdir(repo)).some((f) => f.startsWith('.nbdforge')), 'scratch and lock files are gone');
});

// --- dnf, the real client -------------------------------------------------------------------------
const root = path.join(dir, 'installroot');
const dnf = (args: string[], r = root) =>
  $({ quiet: true, nothrow: true, env: { ...process.env, LC_ALL: 'C' } })`dnf -y --installroot=${r} --releasever=7 --setopt=install_weak_deps=False --setopt=keepcache=False ${args}`;

/** An installroot with /bin/sh, depmod and their libraries, the repository's .repo (URLs -> `url`) and the stub kernel. */
async function makeRoot(r: string, url: string, stubRpm: string, from = repo): Promise<void> {
  const copy = async (from: string, to: string) => {
    await fs.mkdir(path.dirname(path.join(r, to)), { recursive: true });
    await fs.copyFile(from, path.join(r, to));
  };
  await copy('/bin/dash', '/bin/sh');
  await copy((await q`command -v kmod`).stdout.trim(), '/usr/sbin/depmod');
  for (const bin of ['/bin/dash', (await q`command -v kmod`).stdout.trim()]) {
    for (const m of (await q`ldd ${bin}`).stdout.matchAll(/(\/\S+) \(0x/g)) await copy(await fs.realpath(m[1]), m[1]);
  }
  const repoText = (await fs.readFile(path.join(from, 'nbdforge.repo'), 'utf8')).replaceAll(`file://${from}/`, `${url}/`);
  await fs.mkdir(path.join(r, 'etc/yum.repos.d'), { recursive: true });
  await fs.writeFile(path.join(r, 'etc/yum.repos.d/nbdforge.repo'), repoText);
  const s = await dnf(['install', stubRpm], r);
  assert.is(s.exitCode, 0, s.stderr);
}

/** A stand-in kernel package: what dnf needs to see installed (kernel-uname-r = v, /bin/sh). */
async function stubKernel(v: string): Promise<string> {
  const top = path.join(dir, 'stub', v);
  const [ver, rest] = [v.slice(0, v.indexOf('-')), v.slice(v.indexOf('-') + 1).replace(/\.x86_64$/, '')];
  const spec = path.join(top, 'stub.spec');
  await fs.mkdir(top, { recursive: true });
  await fs.writeFile(spec, `Name: kernel\nVersion: ${ver}\nRelease: ${rest}\nSummary: stand-in kernel\nLicense: GPLv2\nBuildArch: x86_64\nAutoReqProv: no\n` +
    `Provides: kernel-uname-r = ${v}\nProvides: /bin/sh\n%description\nstand-in\n%install\nmkdir -p %{buildroot}/lib/modules/${v}\n%files\n%dir /lib/modules/${v}\n`);
  await q`rpmbuild -bb --define ${`_topdir ${top}`} ${spec}`;
  return path.join(top, 'RPMS', 'x86_64', `kernel-${ver}-${rest}.x86_64.rpm`);
}

test(`dnf installs kmod-nbd-${V1} over http://127.0.0.1 with gpgcheck and repo_gpgcheck; depmod ran; a second kernel's installs beside it; dnf remove takes them away`, async () => {
  server = await startFixtureServer(repo);
  await makeRoot(root, server.url, await stubKernel(V1));
  const t0 = Date.now();
  const r = await dnf(['install', `kmod-nbd-${V1}`]);
  assert.is(r.exitCode, 0, r.stdout + r.stderr);
  const took = Date.now() - t0;
  assert.ok(server.requests.some((x) => x.path === '/repodata/repomd.xml.asc' && x.status === 200), 'dnf fetched the repomd.xml signature');
  assert.ok(server.requests.some((x) => x.path === `/Packages/kmod-nbd-${V1}.rpm` && x.status === 200));
  assert.match(r.stdout + r.stderr, /Importing GPG key 0x[0-9A-F]+:[\s\S]*Fingerprint: /);
  const ko = path.join(root, 'lib/modules', V1, 'extra/nbd/nbd.ko');
  assert.is(await sha256File(ko), mod.manifest.sha256, 'installed module is byte-identical to the store');
  assert.is(await sha256File(path.join(root, `usr/share/doc/kmod-nbd-${V1}/proof.json`)), proofSha256, 'the proof arrived through yum beside the module');
  assert.is(await fs.readFile(path.join(root, 'etc/depmod.d/kmod-nbd.conf'), 'utf8'), '# nbd.ko from nbdforge (kmod-nbd): prefer it to any other nbd.ko of the kernel.\noverride nbd * extra/nbd\n');
  const dep = await fs.readFile(path.join(root, 'lib/modules', V1, 'modules.dep'), 'utf8');
  assert.match(dep, /^extra\/nbd\/nbd\.ko:/m, `%post depmod wrote modules.dep: ${dep}`);
  assert.not.ok(await exists(path.join(root, 'lib/modules', V2)), 'the other kernel\'s package was not installed');
  console.error(`[publish-yum] dnf install: ${took} ms`);

  // A second kernel: its kmod-nbd installs beside the first (installonlypkg(kernel-module)), as kernels do.
  const k2 = await dnf(['install', await stubKernel(V2)]);
  assert.is(k2.exitCode, 0, k2.stdout + k2.stderr);
  const r2 = await dnf(['install', `kmod-nbd-${V2}`]);
  assert.is(r2.exitCode, 0, r2.stdout + r2.stderr);
  const ko2 = path.join(root, 'lib/modules', V2, 'extra/nbd/nbd.ko');
  assert.ok((await exists(ko)) && (await exists(ko2)), 'both kernels have their module');
  assert.equal((await q`rpm --root ${root} -q kmod-nbd`).stdout.trim().split('\n').sort(), [`kmod-nbd-${V2}`, `kmod-nbd-${V1}`].sort());

  const rm = await dnf(['remove', 'kmod-nbd']);
  assert.is(rm.exitCode, 0, rm.stdout + rm.stderr);
  assert.not.ok(await exists(ko));
  assert.not.ok(await exists(ko2));
  assert.not.match(await fs.readFile(path.join(root, 'lib/modules', V1, 'modules.dep'), 'utf8'), /nbd/, '%postun depmod forgot the module');
  assert.ok(await exists(path.join(root, 'lib/modules', V1)), 'the kernel\'s own directory stays');
});

/** Copy of the repository with `mutate` applied to one RPM, repodata rebuilt and signed again with the right key. */
async function brokenRepo(name: string, mutate: (rpm: string) => Promise<void>): Promise<string> {
  const copy = path.join(dir, name);
  await q`cp -a ${repo} ${copy}`;
  await mutate(path.join(copy, 'Packages', `kmod-nbd-${V1}.rpm`));
  await q`createrepo_c --quiet --update --checksum sha256 --general-compress-type gz ${copy}`;
  await keys.sign(path.join(copy, 'repodata/repomd.xml'), path.join(copy, 'repodata/repomd.xml.asc'), 'main');
  return copy;
}

/** Flip one byte inside the RSA header signature (signature header tag 268) of an RPM. */
async function breakSignature(rpm: string): Promise<void> {
  const b = await fs.readFile(rpm);
  const sig = 96; // after the lead
  assert.is(b.readUInt32BE(sig), 0x8eade801, 'signature header magic');
  const n = b.readUInt32BE(sig + 8);
  const store = sig + 16 + n * 16;
  for (let i = 0; i < n; i++) {
    const e = sig + 16 + i * 16;
    if (b.readUInt32BE(e) === 268) {
      const off = store + b.readUInt32BE(e + 8);
      const len = b.readUInt32BE(e + 12);
      b[off + len - 8] ^= 0x55;
      await fs.writeFile(rpm, b);
      return;
    }
  }
  assert.unreachable('no RSA header signature');
}

test('dnf refuses an RPM whose signature is broken, and a repomd.xml signed by another key', async () => {
  const bad = await brokenRepo('bad-sig', breakSignature);
  const s1 = await startFixtureServer(bad);
  try {
    const r1 = path.join(dir, 'root-bad-sig');
    await makeRoot(r1, s1.url, await stubKernel(V1));
    const r = await dnf(['install', `kmod-nbd-${V1}`], r1);
    assert.is.not(r.exitCode, 0, r.stdout);
    assert.match(r.stdout + r.stderr, /BAD|GPG check FAILED|signature/i);
    assert.not.ok(await exists(path.join(r1, 'lib/modules', V1, 'extra/nbd/nbd.ko')));
  } finally {
    await s1.close();
  }
  const other = await brokenRepo('other-key', async () => {});
  await keys.sign(path.join(other, 'repodata/repomd.xml'), path.join(other, 'repodata/repomd.xml.asc'), 'other');
  const s2 = await startFixtureServer(other);
  try {
    const r2 = path.join(dir, 'root-other-key');
    await makeRoot(r2, s2.url, await stubKernel(V1));
    const r = await dnf(['install', `kmod-nbd-${V1}`], r2);
    assert.is.not(r.exitCode, 0, r.stdout);
    assert.not.ok(await exists(path.join(r2, 'lib/modules', V1, 'extra/nbd/nbd.ko')));
  } finally {
    await s2.close();
  }
});

test('publish of 6 kernels, then one more: the repository keeps all, metadata lists all', async () => {
  const rels = [...Array(6).keys()].map((i) => `6.1.0-${ABI}.${i + 10}.el7.x86_64`);
  const big = path.join(dir, 'yum6');
  const t0 = Date.now();
  const out = await target(big, { gpgKey: keys.main.fingerprint }).publish(await items('store6', rels), () => {});
  const ms = Date.now() - t0;
  assert.is(out.length, 6);
  const t1 = Date.now();
  await target(big, { gpgKey: keys.main.fingerprint }).publish(await items('store7', [V1]), () => {});
  const ms1 = Date.now() - t1;
  const primary = (await fs.readdir(path.join(big, 'repodata'))).find((f) => f.endsWith('-primary.xml.gz'))!;
  const xml = (await q`zcat ${path.join(big, 'repodata', primary)}`).stdout;
  assert.is([...xml.matchAll(/<name>kmod-nbd<\/name>/g)].length, 7);
  console.error(`[publish-yum] publish 6 kernels signed: ${ms} ms; then 1 more: ${ms1} ms`);
});

test('a stored module whose bytes no longer match its manifest: refused, the repository unchanged', async () => {
  const its = await items('store-tampered', [`6.1.0-${ABI}.99.el7.x86_64`]);
  await fs.chmod(its[0].modulePath, 0o644);
  const b = await fs.readFile(its[0].modulePath);
  b[100] ^= 1;
  await fs.writeFile(its[0].modulePath, b);
  const before = await listing(repo);
  const md = await fs.readFile(path.join(repo, 'repodata/repomd.xml'));
  const err = await target(repo, { gpgKey: keys.main.fingerprint }).publish(its, () => {}).catch((e) => e);
  assert.match(String(err?.message), /nbd\.ko: sha256 [0-9a-f]{64} does not match its manifest .* nothing published for 6\.1\.0-56\.99\.el7\.x86_64/);
  assert.equal(await listing(repo), before);
  assert.equal(await fs.readFile(path.join(repo, 'repodata/repomd.xml')), md);
});

test('without --gpg-key: unsigned packages, no repomd.xml.asc, nbdforge.repo says gpgcheck=0 and why', async () => {
  const plain = path.join(dir, 'plain');
  await target(plain).publish(await items('store-plain', [V1]), () => {});
  assert.match(await fs.readFile(path.join(plain, 'repodata/repomd.xml'), 'utf8'), /<revision>\d{10}<\/revision>/);
  assert.not.ok(await exists(path.join(plain, 'repodata/repomd.xml.asc')));
  assert.is(await qf(path.join(plain, 'Packages', `kmod-nbd-${V1}.rpm`), '%{RSAHEADER:pgpsig}'), '(none)');
  const text = await fs.readFile(path.join(plain, 'nbdforge.repo'), 'utf8');
  assert.match(text, /UNSIGNED/);
  assert.ok(text.split('\n').includes('gpgcheck=0'));
});

/** A real kmod-nbd RPM nbdforge did not make, whose %post would run as root. */
async function foreignRpm(version: string, dest: string): Promise<void> {
  const top = path.join(dir, `evil-${version}`);
  const spec = path.join(top, 'evil.spec');
  await fs.mkdir(top, { recursive: true });
  await fs.writeFile(spec, `Name: kmod-nbd\nVersion: ${version}\nRelease: 1\nSummary: planted\nLicense: GPLv2\nBuildArch: noarch\n%description\nplanted\n%post\ntouch /pwned\n%files\n`);
  await q`rpmbuild -bb --define ${`_topdir ${top}`} ${spec}`;
  await fs.copyFile(path.join(top, `RPMS/noarch/kmod-nbd-${version}-1.noarch.rpm`), path.join(dest, `kmod-nbd-${version}-1.noarch.rpm`));
}

test('a foreign RPM in Packages/ and one behind a symlink to a directory outside: refused naming both, never in repodata; --prune-foreign moves them aside and dnf sees only nbdforge\'s', async () => {
  const site = path.join(dir, 'yum-planted');
  const outside = path.join(dir, 'yum-outside');
  await fs.mkdir(outside);
  await target(site, { gpgKey: keys.main.fingerprint }).publish(await items('store-planted1', [V1]), () => {});
  await foreignRpm('99', path.join(site, 'Packages'));
  await foreignRpm('98', outside);
  await fs.symlink(outside, path.join(site, 'Packages', 'more'));
  const before = await listing(site);
  const repomd = await fs.readFile(path.join(site, 'repodata/repomd.xml'));
  const its = await items('store-planted2', [V2]);
  const err = await target(site, { gpgKey: keys.main.fingerprint }).publish(its, () => {}).catch((e) => e);
  assert.instance(err, PublishRefusedError, String(err));
  assert.ok(err.message.includes('"Packages/kmod-nbd-99-1.noarch.rpm": a package nbdforge did not publish here'), err.message);
  assert.ok(err.message.includes('"Packages/more": a symlink'), err.message);
  assert.equal(await listing(site), before);
  assert.equal(await fs.readFile(path.join(site, 'repodata/repomd.xml')), repomd);

  await target(site, { gpgKey: keys.main.fingerprint, pruneForeign: true }).publish(its, () => {});
  assert.equal(await fs.readdir(outside), ['kmod-nbd-98-1.noarch.rpm'], 'the outside directory is untouched');
  assert.equal((await fs.readdir(path.join(site, 'Packages'))).sort(), [`kmod-nbd-${V1}.rpm`, `kmod-nbd-${V2}.rpm`].sort());
  const s = await startFixtureServer(site);
  try {
    const r = path.join(dir, 'root-planted');
    await makeRoot(r, s.url, await stubKernel(V1), site);
    const list = await dnf(['--showduplicates', 'list', '--available', 'kmod-nbd'], r);
    assert.is(list.exitCode, 0, list.stdout + list.stderr);
    assert.equal([...list.stdout.matchAll(/^kmod-nbd\.(\S+)\s+(\S+)/gm)].map((m) => `${m[2]}.${m[1]}`).sort(), [V1, V2].sort(), list.stdout);
    const inst = await dnf(['install', `kmod-nbd-${V1}`], r);
    assert.is(inst.exitCode, 0, inst.stdout + inst.stderr);
    assert.not.ok(await exists(path.join(r, 'pwned')), 'no planted %post ran');
  } finally {
    await s.close();
  }
});

test('freshness, as the docs say: repomd.xml revision grows with each publish, and dnf accepts an older signed tree served again (it checks signatures, not revisions)', async () => {
  const site = path.join(dir, 'yum-fresh');
  await target(site, { gpgKey: keys.main.fingerprint }).publish(await items('store-fresh1', [V1]), () => {});
  const rev = async (d: string) => Number(/<revision>(\d+)<\/revision>/.exec(await fs.readFile(path.join(d, 'repodata/repomd.xml'), 'utf8'))![1]);
  const old = path.join(dir, 'yum-fresh-old');
  await q`cp -a ${site} ${old}`;
  await new Promise((r) => setTimeout(r, 1100));
  await target(site, { gpgKey: keys.main.fingerprint }).publish(await items('store-fresh2', [V2]), () => {});
  assert.ok((await rev(site)) > (await rev(old)), `${await rev(site)} > ${await rev(old)}`);
  const s = await startFixtureServer(site);
  try {
    const r = path.join(dir, 'root-fresh');
    await makeRoot(r, s.url, await stubKernel(V1), site);
    const names = async () => {
      const l = await dnf(['--refresh', '--showduplicates', 'list', '--available', 'kmod-nbd'], r);
      assert.is(l.exitCode, 0, l.stdout + l.stderr);
      return [...l.stdout.matchAll(/^kmod-nbd\.(\S+)\s+(\S+)/gm)].map((m) => `${m[2]}.${m[1]}`).sort();
    };
    assert.equal(await names(), [V1, V2].sort());
    // The older signed tree, served again where the newer one was: dnf takes it without a word.
    await fs.rename(site, `${site}-new`);
    await fs.rename(old, site);
    assert.equal(await names(), [V1]);
  } finally {
    await s.close();
  }
});

test.run();
