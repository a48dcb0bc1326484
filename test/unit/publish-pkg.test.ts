/**
 * The pure parts of the yum and apt targets: kernel release parsing, package names and versions,
 * the spec and control texts, the repository files, and the refusals made before any work.
 * (The packages themselves are built and installed with the real tools in test/docker/publish-*.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { kmodSpec, parseElRelease, rpmFileName, depmodConf } from '../../src/publish/yum/spec.ts';
import { repoFile } from '../../src/publish/yum/repo-file.ts';
import { debArch, debControl, debPackageName, debVersion, postinst, postrm } from '../../src/publish/apt/control.ts';
import { releaseFile, sourcesFile } from '../../src/publish/apt/repo-files.ts';
import { checkChannel, checkWritable, mapLimit, PublishRefusedError } from '../../src/publish/package-channel.ts';
import type { PublishItem } from '../../src/publish/target.ts';
import { execFileSync } from 'node:child_process';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { loadItem } from '../../src/publish/select.ts';
import { buildKmodRpm } from '../../src/publish/yum/build-rpm.ts';
import { putModule } from './publish-fixtures.ts';
import { proveStoreFixture } from '../fixtures/proof.ts';

const item = (family: string, kernelRelease: string) => ({ entry: { family, kernelRelease } }) as unknown as PublishItem;
const spec = { kernelRelease: '3.10.0-1160.119.1.el7.x86_64', module: 'nbd', sha256: 'a'.repeat(64), vermagic: 'v', key: 'b'.repeat(64), toolVersion: '0.1.0' };

test('el release: VERSION-RELEASE.ARCH, one "-"; a Debian release is refused', () => {
  assert.equal(parseElRelease('3.10.0-1160.119.1.el7.x86_64'), { version: '3.10.0', release: '1160.119.1.el7', arch: 'x86_64' });
  assert.is(rpmFileName('nbd', '3.10.0-1160.el7.x86_64'), 'kmod-nbd-3.10.0-1160.el7.x86_64.rpm');
  for (const bad of ['6.1.0-56-amd64', '3.10.0.el7.x86_64', '3.10.0-1160.el7', '3.10.0-1160.el7.x86_64; rm -rf /', '../3.10.0-1.x86_64']) {
    assert.throws(() => parseElRelease(bad), (e: Error) => e instanceof PublishRefusedError, bad);
  }
});

test('kmod spec: the NEVRA is the kernel\'s, rpm 4.11 settings pinned, depmod in %post and %postun, nothing loads', () => {
  const s = kmodSpec(spec);
  for (const line of ['Name: kmod-nbd', 'Version: 3.10.0', 'Release: 1160.119.1.el7', 'BuildArch: x86_64', 'Requires: kernel-uname-r = 3.10.0-1160.119.1.el7.x86_64',
    'Provides: installonlypkg(kernel-module)', '%define _binary_payload w6.xzdio', '%define _binary_filedigest_algorithm 8', 'AutoReqProv: no']) {
    assert.ok(s.split('\n').includes(line), line);
  }
  assert.is(s.match(/depmod -a 3\.10\.0-1160\.119\.1\.el7\.x86_64/g)?.length, 2);
  assert.not.match(s, /modprobe|insmod/);
  assert.throws(() => kmodSpec({ ...spec, module: 'nbd; rm' }), /not a kernel module name/);
  assert.throws(() => kmodSpec({ ...spec, vermagic: 'v\n%post\nrm -rf /' }), /artifact field vermagic .* is not one line/);
  assert.match(kmodSpec({ ...spec, vermagic: 'v %{_topdir}' }), /^vermagic v %%\{_topdir\}$/m);
  assert.is(depmodConf('nbd'), '# nbd.ko from nbdforge (kmod-nbd): prefer it to any other nbd.ko of the kernel.\noverride nbd * extra/nbd\n');
});

test('kmod RPM of a proven artifact (real rpmbuild): proof.json as /usr/share/doc/kmod-nbd-<release>/proof.json byte for byte, and the line in the description; an unproven one says so', async () => {
  const K = '3.10.0-1160.119.1.el7.x86_64';
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-rpm-proof-'));
  try {
    const root = path.join(dir, 'store');
    await putModule(root, K, { family: 'el7' });
    const store = new DirStore(root);
    const [e] = await store.list();
    const unproven = await buildKmodRpm(await loadItem(store, e), dir, process.env);
    assert.match(execFileSync('rpm', ['-qp', '--qf', '%{DESCRIPTION}', unproven], { encoding: 'utf8' }), /^Not proven in its own kernel/m);
    await fs.rm(unproven);
    const [p] = await proveStoreFixture(root);
    const item = await loadItem(store, e);
    const rpm = await buildKmodRpm(item, dir, process.env);
    const doc = `/usr/share/doc/kmod-nbd-${K}/proof.json`;
    assert.ok(execFileSync('rpm', ['-qlp', rpm], { encoding: 'utf8' }).split('\n').includes(doc));
    assert.match(execFileSync('rpm', ['-qp', '--qf', '%{DESCRIPTION}', rpm], { encoding: 'utf8' }), new RegExp(`^Loaded and used in its own kernel: proven in ${K.replace(/\./g, '\\.')} on 2026-12-01 key ${p.key.slice(0, 12)} \\(${doc.replace(/\./g, '\\.')}\\)\\.$`, 'm'));
    const inside = execFileSync('sh', ['-c', 'rpm2cpio "$1" | cpio -i --quiet --to-stdout "./$2"', 'sh', rpm, doc.slice(1)]);
    assert.ok(inside.equals(item.proof!.bytes), 'the packaged proof.json is the store\'s');
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('nbdforge.repo: both gpg checks with a key, file:// URLs of the directory; unsigned says so', () => {
  const signed = repoFile('/srv/my repo', 'nbd', { fingerprint: 'F'.repeat(40), uid: 'me' }).split('\n');
  for (const l of ['[nbdforge]', 'baseurl=file:///srv/my%20repo/', 'gpgcheck=1', 'repo_gpgcheck=1', 'gpgkey=file:///srv/my%20repo/RPM-GPG-KEY-nbdforge']) assert.ok(signed.includes(l), l);
  const plain = repoFile('/srv/r', 'nbd');
  assert.match(plain, /UNSIGNED/);
  assert.ok(plain.split('\n').includes('gpgcheck=0') && plain.split('\n').includes('repo_gpgcheck=0'));
});

test('deb names and versions: nbd-modules-<release>, amd64 only, later builds sort later', () => {
  assert.is(debPackageName({ kernelRelease: '6.1.0-56-amd64', module: 'nbd' }), 'nbd-modules-6.1.0-56-amd64');
  assert.is(debArch('6.12.107+deb12-cloud-amd64'), 'amd64');
  assert.throws(() => debArch('6.1.0-56-arm64'), /only amd64/);
  assert.throws(() => debArch('6.1.0-56-AMD64'), /cannot name a Debian package/);
  const a = debVersion({ createdAt: '2026-11-28T10:15:00.000Z', key: 'c'.repeat(64) });
  assert.is(a, '20261128.101500+cccccccccccc');
  assert.throws(() => debVersion({ createdAt: 'yesterday', key: 'c'.repeat(64) }), /not a date/);
});

test('deb control and maintainer scripts', () => {
  const c = debControl({ ...spec, kernelRelease: '6.1.0-56-amd64', createdAt: '2026-11-28T10:15:00Z', size: 114488 });
  for (const l of ['Package: nbd-modules-6.1.0-56-amd64', 'Architecture: amd64', 'Depends: linux-image-6.1.0-56-amd64', 'Installed-Size: 112']) assert.ok(c.split('\n').includes(l), l);
  assert.match(c, /\n \/?.*\/lib\/modules\/6\.1\.0-56-amd64\/updates\/nbd\.ko\./);
  assert.throws(() => debControl({ ...spec, kernelRelease: '6.1.0-56-amd64', createdAt: '2026-11-28T10:15:00Z', size: 1, vermagic: 'v\nDepends: evil' }), /not one line/);
  assert.match(postinst('6.1.0-56-amd64'), /"\$1" = configure.*\n  depmod -a 6\.1\.0-56-amd64/);
  assert.match(postrm('6.1.0-56-amd64'), /remove\|purge\)[\s\S]*depmod -a 6\.1\.0-56-amd64/);
});

test('Release lists the sha256 and size of each index; sources file: flat suite, inline key with " ." blank lines', () => {
  const r = releaseFile([{ name: 'Packages', data: Buffer.from('abc') }], ['amd64'], new Date('2026-11-28T10:15:00Z'));
  assert.match(r, /^Date: Sat, 28 Nov 2026 10:15:00 UTC$/m);
  assert.match(r, /^SHA256:\n ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad {16}3 Packages$/m);
  const s = sourcesFile('/srv/apt', { signedBy: { fingerprint: 'F'.repeat(40), uid: 'me', armoredKey: '-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmQEN\n-----END PGP PUBLIC KEY BLOCK-----\n' } });
  assert.match(s, /\nTypes: deb\nURIs: file:\/\/\/srv\/apt\/\nSuites: \.\/\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n \.\n mQEN\n -----END PGP PUBLIC KEY BLOCK-----\n$/);
  assert.match(sourcesFile('/srv/apt', { unsigned: true }), /\nTrusted: yes\n$/);
});

test('channel: each family goes to its own; the refusal says why', () => {
  checkChannel('yum', '/r', 'el7', [item('el7', '3.10.0-1160.el7.x86_64')], process.env);
  checkChannel('apt', '/r', 'debian12', [item('debian12', '6.1.0-56-amd64')], process.env);
  assert.throws(() => checkChannel('yum', '/r', 'debian12', [item('debian12', '6.1.0-56-amd64')], process.env), /yum:\/r refuses family debian12 \(6\.1\.0-56-amd64\): debian12 publishes to apt:DIR; an RPM dependency version cannot carry a Debian kernel release/);
  assert.throws(() => checkChannel('apt', '/r', 'debian12', [item('el7', '3.10.0-1160.el7.x86_64')], process.env), /refuses family el7 \(3\.10\.0-1160\.el7\.x86_64\): el7 publishes to yum:DIR/);
  assert.throws(() => checkChannel('apt', '/r', 'nosuch', [], process.env), /unknown family "nosuch"/);
  assert.throws(() => checkChannel('apt', '/r', '', [item('el7', '3.10.0-1160.el7.x86_64')], process.env), /refuses family el7/);
});

test('writable check: a missing directory under a writable parent passes and is not created; a file in the way is named', async () => {
  const d = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pubpkg-unit-'));
  try {
    await checkWritable('yum', path.join(d, 'a/b'));
    assert.equal(await fs.readdir(d), []);
    await fs.writeFile(path.join(d, 'f'), '');
    const err = await checkWritable('yum', path.join(d, 'f/x')).catch((e) => e);
    assert.instance(err, PublishRefusedError);
    assert.match(err.message, /\/f is not a directory/);
    assert.equal(await fs.readdir(d), ['f']);
  } finally {
    await fs.rm(d, { recursive: true, force: true });
  }
});

test('mapLimit keeps order and the limit', async () => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 3, 2], 2, async (n) => {
    peak = Math.max(peak, ++running);
    await new Promise((r) => setTimeout(r, n));
    running--;
    return n * 10;
  });
  assert.equal(out, [50, 10, 30, 20]);
  assert.is(peak, 2);
});

test.run();
