/**
 * apt:DIR and yum:DIR as targets someone else can write between two runs (issue 16, H4 and items
 * 1, 2, 5; issue 23 item 4), through the real CLI with the real tools (dpkg-deb, apt-ftparchive,
 * rpmbuild, createrepo_c, gpg, gpgv): the repository is rebuilt from the store and the publish
 * records, so a planted package, a package behind a symlink, a symlink anywhere in the tree or an
 * unknown file is refused with exit 3 naming it (or moved aside with --prune-foreign), never
 * indexed or signed; nothing is written through a planted symlink; a run that fills the disk
 * leaves the repository as it was. apt and dnf themselves: test/docker/publish-{apt,yum}.test.ts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';

import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { nextRevision } from '../../src/publish/yum/index.ts';
import { buildModule } from './fixtures-elf.ts';
import { putModule, gpgHome, cli, sha, type GpgHome } from './publish-fixtures.ts';

const K56 = '6.1.0-56-amd64';
const K47 = '6.1.0-47-amd64';
const E1 = '3.10.0-1160.el7.x86_64';
const E2 = '3.10.0-1160.119.1.el7.x86_64';
let tmp = '';
let gpg: GpgHome;
const sh = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** Everything under `d` with its type and content hash: the whole state of a target. */
async function snapshot(d: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const rel of (await fs.readdir(d, { recursive: true })).sort()) {
    const p = path.join(d, rel);
    const st = await fs.lstat(p);
    out[rel] = st.isSymbolicLink() ? `link ${await fs.readlink(p)}` : st.isDirectory() ? 'dir' : sha(await fs.readFile(p));
  }
  return out;
}

/** An el7 artifact in the store (the fixture ELF module, filed under an el release). */
async function putEl(store: string, kernelRelease: string): Promise<void> {
  const bytes = buildModule({ vermagic: `${kernelRelease} SMP mod_unload modversions `, greeting: `nbd for ${kernelRelease}` }).bytes;
  const src = await fs.mkdtemp(path.join(tmp, 'src-'));
  await fs.writeFile(path.join(src, 'nbd.ko'), bytes);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), 'debug');
  const m: Manifest = {
    schema: 1, key: sha(`key ${kernelRelease}`), family: 'el7', kernelRelease, module: 'nbd', file: 'nbd.ko', debugFile: 'nbd.ko.debug',
    sha256: sha(bytes), size: bytes.length, debugSha256: sha('debug'), vermagic: `${kernelRelease} SMP mod_unload modversions`,
    checks: [{ name: 'vermagic', ok: true, detail: 'matches' }], inputs: {}, builderImage: 'sha256:' + sha('i'), compiler: 'gcc',
    durationMs: 1, tool: { name: 'nbdforge', version: '0.1.0' }, createdAt: new Date(0).toISOString(),
  };
  await new DirStore(store).put(m, { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') });
}

/** A real .deb named like nbdforge's for K56 at a huge version, whose postinst would run as root. */
async function plantedDeb(dest: string): Promise<string> {
  const root = await fs.mkdtemp(path.join(tmp, 'evil-deb-'));
  await fs.mkdir(path.join(root, 'DEBIAN'));
  await fs.writeFile(path.join(root, 'DEBIAN/control'), `Package: nbd-modules-${K56}\nVersion: 99999999\nArchitecture: amd64\nMaintainer: x <x@x>\nDescription: planted\n planted\n`);
  await fs.writeFile(path.join(root, 'DEBIAN/postinst'), '#!/bin/sh\ntouch /tmp/pwned\n', { mode: 0o755 });
  await fs.chmod(root, 0o755);
  const out = path.join(dest, `nbd-modules-${K56}_99999999_amd64.deb`);
  sh('dpkg-deb', ['--root-owner-group', '--build', root, out]);
  return out;
}

/** A real kmod-nbd RPM nbdforge did not make. */
async function foreignRpm(dest: string): Promise<string> {
  const top = await fs.mkdtemp(path.join(tmp, 'evil-rpm-'));
  const spec = path.join(top, 'evil.spec');
  await fs.writeFile(spec, 'Name: kmod-nbd\nVersion: 99\nRelease: 1\nSummary: planted\nLicense: GPLv2\nBuildArch: noarch\n%description\nplanted\n%post\ntouch /tmp/pwned\n%files\n');
  sh('rpmbuild', ['-bb', '--define', `_topdir ${top}`, spec]);
  const out = path.join(dest, 'kmod-nbd-99-1.noarch.rpm');
  await fs.copyFile(path.join(top, 'RPMS/noarch/kmod-nbd-99-1.noarch.rpm'), out);
  return out;
}

const publish = (store: string, to: string, extra: string[] = []) => cli(['publish', '--store', store, '--to', to, ...extra], gpg.env);
const signed = () => ['--gpg-key', gpg.fingerprint];

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pub-hostile-'));
  gpg = await gpgHome();
});

test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.rm(gpg.home, { recursive: true, force: true });
});

test('apt: a planted nbd-modules-<release> .deb at a huge version in pool/ is refused (exit 3, named), never in Packages or InRelease; --prune-foreign moves it aside', async () => {
  const store = path.join(tmp, 'apt1-store');
  const repo = path.join(tmp, 'apt1');
  await putModule(store, K56);
  let r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  const evil = await plantedDeb(path.join(repo, 'pool'));
  const before = await snapshot(repo);
  // Nothing new to publish: refused all the same, so the planted file is reported at once.
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, new RegExp(`"pool/nbd-modules-${K56}_99999999_amd64\\.deb": a package nbdforge did not publish here`));
  assert.match(r.stderr, /--prune-foreign/);
  // Something new to publish: refused before anything is built or written.
  await putModule(store, K47);
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.equal(await snapshot(repo), before);
  assert.not.match(await fs.readFile(path.join(repo, 'InRelease'), 'utf8'), /99999999/);

  r = await publish(store, `apt:${repo}`, [...signed(), '--prune-foreign']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, new RegExp(`--prune-foreign moved 1 thing\\(s\\) nbdforge did not write into ${repo}/\\.nbdforge-foreign-\\S+: "pool/nbd-modules-`));
  const aside = (await fs.readdir(repo)).filter((f) => f.startsWith('.nbdforge-foreign-'));
  assert.is(aside.length, 1);
  assert.ok((await fs.lstat(path.join(repo, aside[0], 'pool', path.basename(evil)))).isFile(), 'moved aside, whole');
  const packages = await fs.readFile(path.join(repo, 'Packages'), 'utf8');
  assert.not.match(packages, /99999999/);
  assert.equal([...packages.matchAll(/^Package: (.*)$/gm)].map((m) => m[1]).sort(), [`nbd-modules-${K47}`, `nbd-modules-${K56}`]);
  const inrel = await fs.readFile(path.join(repo, 'InRelease'), 'utf8');
  assert.ok(inrel.includes(` ${sha(packages)} `), 'InRelease pins the Packages written');
  // And the next run accepts the aside directory (never reads or indexes it).
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /nothing to publish/);
});

test('apt: symlinks anywhere are refused and never written through: pool -> outside, a staged index name -> outside file, an unknown top-level file', async () => {
  const store = path.join(tmp, 'apt2-store');
  const repo = path.join(tmp, 'apt2');
  const outside = path.join(tmp, 'apt2-outside');
  await fs.mkdir(outside);
  await putModule(store, K56);
  // A fresh target whose pool is a symlink: main moved the .debs into the outside directory.
  await fs.mkdir(repo);
  await fs.symlink(outside, path.join(repo, 'pool'));
  let r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /"pool": a symlink/);
  assert.equal(await fs.readdir(outside), []);
  assert.equal(await fs.readdir(repo), ['pool']);
  await fs.unlink(path.join(repo, 'pool'));

  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  // Release and nbdforge.sources are symlinks to files elsewhere, plus a stray file.
  const victim = path.join(outside, 'victim');
  await fs.writeFile(victim, 'precious\n');
  for (const f of ['Release', 'nbdforge.sources']) {
    await fs.rm(path.join(repo, f));
    await fs.symlink(victim, path.join(repo, f));
  }
  await fs.writeFile(path.join(repo, 'notes.txt'), 'x');
  // The recorded .deb itself swapped for a link to the victim: neither read, indexed nor removed through.
  const recordedDeb = (await fs.readdir(path.join(repo, 'pool')))[0];
  await fs.rm(path.join(repo, 'pool', recordedDeb));
  await fs.symlink(victim, path.join(repo, 'pool', recordedDeb));
  await putModule(store, K47);
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 3, r.stderr + r.stdout);
  for (const f of ['Release', 'nbdforge.sources']) assert.match(r.stderr, new RegExp(`"${f.replace('.', '\\.')}": a symlink`));
  assert.ok(r.stderr.includes(`"pool/${recordedDeb}": a symlink`), r.stderr);
  assert.match(r.stderr, /"notes\.txt": not written by nbdforge/);
  r = await publish(store, `apt:${repo}`, [...signed(), '--prune-foreign']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is(await fs.readFile(victim, 'utf8'), 'precious\n', 'never written through the link');
  for (const f of ['Release', 'nbdforge.sources']) assert.ok((await fs.lstat(path.join(repo, f))).isFile(), `${f} is a plain file again`);
  const pool = await fs.readdir(path.join(repo, 'pool'));
  assert.is(pool.length, 2, 'both kernels, the swapped one made again from the store');
  for (const f of pool) assert.ok((await fs.lstat(path.join(repo, 'pool', f))).isFile(), f);
  assert.not.ok(/^Filename: .*\n(?:.+\n)*?Size: 9$/m.test(await fs.readFile(path.join(repo, 'Packages'), 'utf8')), 'the victim (9 bytes) is not indexed');
  sh('gpgv', ['--homedir', gpg.home, '--keyring', path.join(gpg.home, 'pubring.kbx'), path.join(repo, 'Release.gpg'), path.join(repo, 'Release')]);
});

test('apt: a recorded .deb changed since it was written is refused; Valid-Until is 30 days (or --valid-for); Trusted: yes only with --unsigned', async () => {
  const store = path.join(tmp, 'apt3-store');
  const repo = path.join(tmp, 'apt3');
  await putModule(store, K56);
  let r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  const rel = await fs.readFile(path.join(repo, 'Release'), 'utf8');
  const date = Date.parse(/^Date: (.*)$/m.exec(rel)![1]);
  const until = Date.parse(/^Valid-Until: (.*)$/m.exec(rel)?.[1] ?? '');
  assert.is(until - date, 30 * 86_400_000);
  r = await publish(store, `apt:${repo}`, signed());
  assert.match(r.stdout, /nothing to publish/);
  // Past half its validity, a run with nothing new signs again, so an unchanged repository never expires under its hosts.
  const soon = new Date(Date.now() + 10 * 86_400_000).toUTCString().replace('GMT', 'UTC');
  await fs.writeFile(path.join(repo, 'Release'), rel.replace(/^Valid-Until: .*$/m, `Valid-Until: ${soon}`));
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /published 1 artifact/);
  const again = Date.parse(/^Valid-Until: (.*)$/m.exec(await fs.readFile(path.join(repo, 'Release'), 'utf8'))![1]);
  assert.ok(again - Date.now() > 29 * 86_400_000, 'signed again for 30 days');
  assert.is((await fs.readdir(path.join(repo, 'pool'))).length, 1);
  const deb = path.join(repo, 'pool', (await fs.readdir(path.join(repo, 'pool')))[0]);
  await fs.appendFile(deb, 'x');
  await putModule(store, K47);
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 3, r.stderr + r.stdout);
  assert.match(r.stderr, /"pool\/nbd-modules-6\.1\.0-56-amd64_[^"]+\.deb": changed since nbdforge wrote it/);

  // no key and no --unsigned: refused before anything is written (so never a Trusted: yes by default)
  const plain = path.join(tmp, 'apt3-plain');
  r = await publish(store, `apt:${plain}`, ['--valid-for', '7']);
  assert.is(r.code, 2, r.stderr + r.stdout);
  assert.match(r.stderr, /needs a signing key: pass --gpg-key KEYID, or --unsigned/);
  assert.is(await fs.stat(plain).catch(() => null), null);
  const seven = path.join(tmp, 'apt3-seven');
  r = await publish(store, `apt:${seven}`, [...signed(), '--valid-for', '7']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.not.match(await fs.readFile(path.join(seven, 'nbdforge.sources'), 'utf8'), /Trusted/m);
  const rel7 = await fs.readFile(path.join(seven, 'Release'), 'utf8');
  assert.is(Date.parse(/^Valid-Until: (.*)$/m.exec(rel7)![1]) - Date.parse(/^Date: (.*)$/m.exec(rel7)![1]), 7 * 86_400_000);
  const plain2 = path.join(tmp, 'apt3-unsigned');
  r = await publish(store, `apt:${plain2}`, ['--unsigned']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const src2 = await fs.readFile(path.join(plain2, 'nbdforge.sources'), 'utf8');
  assert.match(src2, /^Trusted: yes$/m);
  assert.match(src2, /published with --unsigned.*without any signature check/s);
  for (const bad of ['0', '-1', 'abc', '1e3', '']) {
    const u = await publish(store, `apt:${plain2}`, ['--unsigned', '--valid-for', bad]);
    assert.is(u.code, 2, `--valid-for ${bad}: ${u.stderr}`);
  }
});

test('yum: a foreign RPM in Packages/ and one behind a symlink to a directory outside are refused, never in repodata; --prune-foreign keeps only nbdforge\'s; the revision only grows', async () => {
  const store = path.join(tmp, 'yum1-store');
  const repo = path.join(tmp, 'yum1');
  const outside = path.join(tmp, 'yum1-outside');
  await fs.mkdir(outside);
  await putEl(store, E1);
  let r = await publish(store, `yum:${repo}`, ['--unsigned']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  const rev1 = Number(/<revision>(\d+)<\/revision>/.exec(await fs.readFile(path.join(repo, 'repodata/repomd.xml'), 'utf8'))![1]);
  await foreignRpm(path.join(repo, 'Packages'));
  await foreignRpm(outside);
  await fs.symlink(outside, path.join(repo, 'Packages', 'more'));
  // createrepo_c's own staging name, planted: main's createrepo_c wrote through it.
  await fs.symlink(outside, path.join(repo, '.repodata'));
  // A file in repodata/ that createrepo_c does not write: it would go with the old repodata, unrecorded.
  await fs.writeFile(path.join(repo, 'repodata', 'updateinfo.xml'), '<updates/>');
  await putEl(store, E2);
  const before = await snapshot(repo);
  const outsideBefore = await snapshot(outside);
  r = await publish(store, `yum:${repo}`, ['--unsigned']);
  assert.is(r.code, 3, r.stderr + r.stdout);
  for (const n of ['"Packages/kmod-nbd-99-1.noarch.rpm": a package nbdforge did not publish here', '"Packages/more": a symlink', '".repodata": a symlink', '"repodata/updateinfo.xml": not written by nbdforge']) assert.ok(r.stderr.includes(n), n);
  assert.equal(await snapshot(repo), before);
  assert.equal(await snapshot(outside), outsideBefore);

  r = await publish(store, `yum:${repo}`, ['--unsigned', '--prune-foreign']);
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.equal(await snapshot(outside), outsideBefore, 'nothing written or removed outside');
  const md = await fs.readFile(path.join(repo, 'repodata/repomd.xml'), 'utf8');
  const primary = /<location href="(repodata\/[^"]*-primary\.xml\.gz)"/.exec(md)![1];
  const xml = sh('zcat', [path.join(repo, primary)]);
  assert.equal([...xml.matchAll(/<location href="([^"]+)"/g)].map((m) => m[1]).sort(), [`Packages/kmod-nbd-${E2.replace(/\.x86_64$/, '')}.x86_64.rpm`, `Packages/kmod-nbd-${E1.replace(/\.x86_64$/, '')}.x86_64.rpm`].sort());
  assert.not.match(xml, /99-1|noarch/);
  const rev2 = Number(/<revision>(\d+)<\/revision>/.exec(md)![1]);
  assert.ok(rev2 > rev1, `${rev2} > ${rev1}`);
  assert.is(nextRevision(5_000_000_000, new Date(0)), 5_000_000_001, 'a clock gone back still counts up');
});

test('apt: when the publish records cannot be written after the new files are in place, the run is taken back (exit 1, target unchanged)', async () => {
  const store = path.join(tmp, 'apt5-store');
  const repo = path.join(tmp, 'apt5');
  await putModule(store, K56);
  let r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  await putModule(store, K47);
  const before = await snapshot(repo);
  sh('mount', ['--bind', store, store]);
  try {
    sh('mount', ['-o', 'remount,ro,bind', store]);
    r = await publish(store, `apt:${repo}`, signed());
    assert.is(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /FAILED: .*EROFS/);
    assert.equal(await snapshot(repo), before);
  } finally {
    sh('umount', [store]);
  }
  r = await publish(store, `apt:${repo}`, signed());
  assert.is(r.code, 0, r.stderr + r.stdout);
  assert.is((await fs.readdir(path.join(repo, 'pool'))).length, 2);
});

/**
 * Publish `kernels` more onto a target on a small tmpfs with less and less room taken away: every
 * run that fails (at whatever step the disk ran out) must leave the target exactly as it was.
 */
async function fillUp(kind: 'apt' | 'yum', put: (store: string, k: string) => Promise<unknown>, first: string, more: string[], flags: string[]): Promise<void> {
  const store = path.join(tmp, `${kind}-full-store`);
  const mnt = path.join(tmp, `${kind}-full-fs`);
  const repo = path.join(mnt, 'repo');
  await fs.mkdir(mnt);
  sh('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'nbdforge-test', mnt]);
  try {
    await put(store, first);
    let r = await publish(store, `${kind}:${repo}`, flags);
    assert.is(r.code, 0, r.stderr + r.stdout);
    const before = await snapshot(repo);
    for (const k of more) await put(store, k);
    const failures: string[] = [];
    for (let room = 8 * 1024; ; room += 6 * 1024) {
      const free = Number(sh('df', ['--output=avail', '-B1', mnt]).trim().split('\n')[1]);
      await fs.writeFile(path.join(mnt, 'filler'), Buffer.alloc(Math.max(0, free - room)));
      r = await publish(store, `${kind}:${repo}`, flags);
      await fs.rm(path.join(mnt, 'filler'));
      if (r.code === 0) break;
      assert.is(r.code, 1, r.stderr + r.stdout);
      assert.match(r.stdout, /FAILED: /);
      failures.push(/FAILED: (.{0,200})/.exec(r.stdout)![1]);
      assert.equal(await snapshot(repo), before, `with ${room} bytes free: the repository is the one the last good run left`);
      assert.ok(room < 2 * 1024 * 1024, 'never succeeded');
    }
    console.error(`[publish-pkg-hostile] ${kind}: ${failures.length} runs failed on a full disk, target unchanged each time; each: ${failures.map((f) => f.slice(0, 45)).join(" | ")}`);
    assert.ok(failures.length >= 2, failures.join('\n'));
    assert.is((await fs.readdir(path.join(repo, kind === 'apt' ? 'pool' : 'Packages'))).length, 1 + more.length);
  } finally {
    sh('umount', [mnt]);
  }
}

test('yum: runs that fill the disk part-way leave the repository as the last successful run left it; the next run completes', async () => {
  await fillUp('yum', putEl, E1, [E2, '3.10.0-1160.2.1.el7.x86_64', '3.10.0-1160.3.1.el7.x86_64'], ['--unsigned']);
});

test('apt: runs that fill the disk part-way leave the repository as it was; the next run completes', async () => {
  await fillUp('apt', putModule, K56, [K47, '6.1.0-50-amd64', '6.1.0-53-amd64'], ['--gpg-key', gpg.fingerprint]);
});

test.run();
