/**
 * Issue 19 item 8: `nbdforge cache du` and `cache prune`, through the real CLI binary, on a cache
 * made here: real files with the names the families give them, a debian12 catalog.json and an el7
 * catalog in their own formats, a store filled through the real DirStore. No engine: DOCKER_HOST
 * points at a socket that does not exist.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { putModule } from './publish-fixtures.ts';
import { loadLines } from '../../src/families/debian12/lines.ts';
import { removeInside } from '../../src/cache/walk.ts';

const bin = path.resolve('bin/nbdforge.js');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const DAY = 86400_000;

let tmp = '';
let home = '';
let cache = '';
// TMPDIR: the test's own, so builds running elsewhere on this machine (their scratch) do not count
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: home, DOCKER_HOST: 'unix:///nonexistent.sock', TMPDIR: path.join(tmp, 'tmpdir'), ...env } });

const ROLES = ['headers-common', 'headers', 'kbuild', 'compiler', 'source', 'image'];

/** A debian12 kernel of the 6.1 line; `shared` names the kbuild and compiler debs kernels share. */
function debKernel(abi: number) {
  const files = ROLES.map((role) => {
    const shared = role === 'kbuild' || role === 'compiler';
    const name = shared ? `linux-${role}-6.1` : `linux-${role}-6.1.0-${abi}`;
    const version = shared ? '6.1.170-3' : `6.1.${100 + abi}-1`;
    return { role, name, version, filename: `${name}_${version}_amd64.deb`, sha256: sha(`${name} ${version}`), size: 1000 };
  });
  return { family: 'debian12', kernelRelease: `6.1.0-${abi}-amd64`, sourceVersion: `6.1.${100 + abi}-1`, line: '6.1', flavour: 'amd64', files };
}
const headersKey = (k: ReturnType<typeof debKernel>) => sha(['headers-common', 'headers', 'kbuild'].map((r) => k.files.find((f) => f.role === r)!.sha256).join('\n'));

async function write(p: string, bytes: number, ageDays = 0): Promise<void> {
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, Buffer.alloc(bytes, 1));
  if (ageDays) await fs.utimes(p, new Date(Date.now() - ageDays * DAY), new Date(Date.now() - ageDays * DAY));
}

const kernels = [debKernel(55), debKernel(56), debKernel(57)];
const deb = (k: ReturnType<typeof debKernel>, role: string) => path.join(cache, 'debian12', 'debs', k.files.find((f) => f.role === role)!.filename);
const derived = (name: string) => path.join(cache, 'debian12', 'derived', name);
const elSrpm = { sha: sha('srpm'), name: 'kernel-3.10.0-1160.el7.src.rpm' };
const elDevel = { sha: sha('devel'), name: 'kernel-devel-3.10.0-1160.el7.x86_64.rpm' };
const cas = (h: string) => path.join(cache, 'sha256', h.slice(0, 2), h);

/** The whole cache, fresh: three debian12 kernels (55 stored), one el7 kernel (stored), leftovers, a planted link. */
async function makeCache(): Promise<void> {
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(path.join(tmp, 'tmpdir'), { recursive: true });
  home = path.join(tmp, 'home');
  cache = path.join(home, 'cache');
  await fs.mkdir(path.join(cache, 'debian12', 'apt-lists'), { recursive: true });
  await write(path.join(cache, 'debian12', 'apt-lists', 'deb.debian.org_debian_dists_bookworm_InRelease'), 500);
  await fs.writeFile(
    path.join(cache, 'debian12', 'catalog.json'),
    JSON.stringify({ fetchedAt: new Date(Date.now() - 3600_000).toISOString(), kernels, skipped: [], linesSha256: loadLines().sha256 }, null, 2),
  );
  for (const k of kernels) {
    for (const f of k.files) await write(deb(k, f.role), f.role === 'source' ? 5000 : 1000, 40);
    await write(path.join(derived(`kbuild-${headersKey(k)}`), 'usr', 'src', 'Makefile'), 300, 40);
    await write(path.join(derived(`src-${k.files.find((f) => f.role === 'source')!.sha256}`), 'nbd.c'), 200, 40);
  }
  // 57's shipped module extracted only recently
  await write(derived(`oracle-${kernels[2].files.find((f) => f.role === 'image')!.sha256}.ko`), 400);
  // belongs to no catalog kernel: an old ABI's deb and an interrupted extraction
  await write(path.join(cache, 'debian12', 'debs', 'linux-headers-6.1.0-40-amd64_6.1.140-1_amd64.deb'), 700, 40);
  await write(path.join(derived('.tmp-kbuild-abc123'), 'half'), 50, 40);
  // a link planted in the debs directory to a file outside the cache, and one as a derived directory
  await write(path.join(tmp, 'outside', 'precious.deb'), 123);
  await fs.mkdir(path.join(tmp, 'outside', 'tree'), { recursive: true });
  await write(path.join(tmp, 'outside', 'tree', 'keep.me'), 10);
  await fs.symlink(path.join(tmp, 'outside', 'precious.deb'), path.join(cache, 'debian12', 'debs', 'linux-evil_1_amd64.deb'));
  await fs.symlink(path.join(tmp, 'outside', 'tree'), derived(`src-${sha('nobody')}`));
  // el7: catalog in its format, its RPMs content-addressed, the devel tree, the repodata it was synced from
  const primary = sha('primary');
  await fs.mkdir(path.join(cache, 'catalog'), { recursive: true });
  const file = (h: string, p: string) => ({ url: `https://vault.centos.org/${p}`, path: p, sha256: h, size: 2000 });
  await fs.writeFile(
    path.join(cache, 'catalog', 'el7.json'),
    JSON.stringify({
      schema: 1, family: 'el7', vault: 'https://vault.centos.org', fingerprint: '6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5', syncedAt: '2026-11-01T00:00:00.000Z',
      repos: [{ release: '7.9.2009', repo: 'os', arch: 'x86_64', url: 'https://vault.centos.org/7.9.2009/os/x86_64/repodata/repomd.xml', primarySha256: primary, signer: null, packages: 1 }],
      kernels: [{ family: 'el7', release: '7.9.2009', kernelRelease: '3.10.0-1160.el7.x86_64', version: '3.10.0-1160.el7', repo: 'os', srpm: file(elSrpm.sha, `7.9.2009/os/Source/SPackages/${elSrpm.name}`), devel: file(elDevel.sha, `7.9.2009/os/x86_64/Packages/${elDevel.name}`) }],
      unpaired: [],
    }),
  );
  await write(cas(elSrpm.sha), 2000, 40);
  await write(cas(elDevel.sha), 2000, 40);
  await write(cas(primary), 300, 40);
  await write(cas(sha('stray')), 900, 40);
  await write(path.join(cache, 'el7', 'derived', `devel-${elDevel.sha}`, 'Makefile'), 100, 40);
  // test and VM caches: never touched
  await write(path.join(cache, 'vm', 'debian.qcow2'), 4000, 40);
  await write(path.join(cache, 'el7-userland', 'x.rpm'), 100, 40);
  await write(path.join(cache, 'test-fixtures', 'f'), 10, 40);
  await write(path.join(cache, 'prove', 'records', `${'a'.repeat(64)}.json`), 30, 40);
  // the store: 6.1.0-55-amd64 (debian12) and the el7 kernel have artifacts
  await putModule(path.join(home, 'store'), '6.1.0-55-amd64');
  await putModule(path.join(home, 'store'), '3.10.0-1160.el7.x86_64', { family: 'el7' });
}

const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-cache-cmd-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('cache du: per kernel, roles, stored or not, shared files once, leftovers, kept and left alone (no engine)', async () => {
  await makeCache();
  const r = run(['cache', 'du', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const k55 = j.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === '6.1.0-55-amd64');
  const k56 = j.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === '6.1.0-56-amd64');
  assert.is(k55.stored, true);
  assert.is(k56.stored, false);
  // 6 debs + kbuild tree + sources; the kbuild and compiler debs are shared with 56 and 57
  assert.is(k55.files.length, 8);
  const kb = k55.files.find((f: { role: string }) => f.role === 'kbuild');
  assert.equal(kb.sharedWith, ['6.1.0-56-amd64', '6.1.0-57-amd64']);
  assert.is(k55.sharedBytes, 2000);
  assert.is(k55.ownBytes, 3 * 1000 + 5000 + 300 + 200);
  assert.ok(k55.files.some((f: { role: string; kind: string }) => f.kind === 'derived' && /kbuild tree/.test(f.role)));
  const k57 = j.kernels.find((k: { kernelRelease: string }) => k.kernelRelease === '6.1.0-57-amd64');
  assert.ok(k57.files.some((f: { role: string }) => /shipped module/.test(f.role)));
  const el = j.kernels.find((k: { family: string }) => k.family === 'el7');
  assert.is(el.stored, true);
  assert.equal(el.files.map((f: { role: string }) => f.role).sort(), ['devel (kernel-devel-3.10.0-1160.el7.x86_64.rpm)', 'kernel-devel tree (unpacked)', 'srpm (kernel-3.10.0-1160.el7.src.rpm)']);
  const leftover = j.leftover.map((l: { path: string }) => l.path).sort();
  assert.equal(leftover, [
    'debian12/debs/linux-evil_1_amd64.deb',
    'debian12/debs/linux-headers-6.1.0-40-amd64_6.1.140-1_amd64.deb',
    'debian12/derived/.tmp-kbuild-abc123',
    `debian12/derived/src-${sha('nobody')}`,
    `sha256/${sha('stray').slice(0, 2)}/${sha('stray')}`,
  ]);
  const kept = j.kept.map((k: { path: string }) => k.path).sort();
  assert.equal(kept, ['catalog/el7.json', 'debian12/apt-lists', 'debian12/catalog.json', `sha256/${sha('primary').slice(0, 2)}/${sha('primary')}`]);
  assert.equal(j.leftAlone.map((l: { path: string }) => l.path), ['vm', 'el7-userland', 'test-fixtures', 'prove']);
  // shared debs counted once: the totals are the sum of distinct entries
  const debian12Bytes = 3 * (3 * 1000 + 5000 + 300 + 200) + 2 * 1000 + 400;
  assert.is(j.totals.forKernelsNotStored + j.totals.forStoredKernels, debian12Bytes + 2000 + 2000 + 100);

  const text = run(['cache', 'du']);
  assert.is(text.status, 0, text.stderr);
  assert.match(text.stdout, /6\.1\.0-55-amd64 {2}stored {2}/);
  assert.match(text.stdout, /6\.1\.0-56-amd64 {2}not stored/);
  assert.match(text.stdout, /shared with 6\.1\.0-56-amd64, 6\.1\.0-57-amd64/);
  assert.match(text.stdout, /left alone \(test, VM, proof and builder results caches, never pruned\): vm.*, prove /);

  const only = run(['cache', 'du', '--family', 'el7', '--json']);
  assert.is(only.status, 0, only.stderr);
  assert.equal(JSON.parse(only.stdout).kernels.map((k: { family: string }) => k.family), ['el7']);
});

test('cache prune --dry-run lists what would go and removes nothing; prune then removes exactly that', async () => {
  await makeCache();
  const dry = run(['cache', 'prune', '--dry-run', '--json']);
  assert.is(dry.status, 0, dry.stderr);
  const d = JSON.parse(dry.stdout);
  const would = d.wouldRemove.map((x: { path: string }) => x.path);
  // 56's and 57's own files go (no artifact), the shared kbuild/compiler debs stay (55 is stored)
  assert.ok(would.includes(path.relative(cache, deb(kernels[1], 'headers'))));
  assert.ok(would.includes(path.relative(cache, deb(kernels[2], 'source'))));
  assert.not.ok(would.includes(path.relative(cache, deb(kernels[1], 'kbuild'))));
  assert.not.ok(would.includes(path.relative(cache, deb(kernels[0], 'headers'))));
  assert.ok(would.includes(`sha256/${sha('stray').slice(0, 2)}/${sha('stray')}`));
  assert.not.ok(would.some((p: string) => /catalog|apt-lists|^vm|el7-userland|test-fixtures|^prove/.test(p)));
  assert.not.ok(would.includes(`sha256/${sha('primary').slice(0, 2)}/${sha('primary')}`));
  assert.is(d.bytes, d.wouldRemove.reduce((a: number, x: { bytes: number }) => a + x.bytes, 0));
  for (const p of would) assert.ok(await exists(path.join(cache, p)), `dry run kept ${p}`);

  const text = run(['cache', 'prune', '--dry-run']);
  assert.match(text.stdout, /would remove \d+ entries, [\d.]+ KB \(dry run: nothing removed\)/);
  assert.match(text.stdout, /left alone: cache\/vm, cache\/el7-userland, cache\/test-fixtures, cache\/prove \(test, VM, proof and builder results caches\)/);

  const real = run(['cache', 'prune', '--json']);
  assert.is(real.status, 0, real.stderr);
  const removed = JSON.parse(real.stdout).removed.map((x: { path: string }) => x.path);
  assert.equal(removed.sort(), [...would].sort());
  for (const p of removed) assert.not.ok(await exists(path.join(cache, p)), `removed ${p}`);
  // what stored kernels need, the catalogs, lists and test caches are all still there
  for (const f of kernels[0].files) assert.ok(await exists(deb(kernels[0], f.role)));
  for (const p of ['debian12/catalog.json', 'debian12/apt-lists', 'catalog/el7.json', 'vm/debian.qcow2', 'el7-userland/x.rpm', 'test-fixtures/f', `prove/records/${'a'.repeat(64)}.json`])
    assert.ok(await exists(path.join(cache, p)), p);
  assert.ok(await exists(cas(elSrpm.sha)));
  assert.ok(await exists(path.join(cache, 'el7', 'derived', `devel-${elDevel.sha}`, 'Makefile')));
  // the planted links went as links; their targets outside the cache are untouched
  assert.is(await fs.readFile(path.join(tmp, 'outside', 'precious.deb'), 'utf8'), Buffer.alloc(123, 1).toString());
  assert.ok(await exists(path.join(tmp, 'outside', 'tree', 'keep.me')));

  const again = run(['cache', 'prune']);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing to remove/);
});

test('cache prune --keep-latest keeps the newest kernels warm; --older-than spares recent files', async () => {
  await makeCache();
  const r = run(['cache', 'prune', '--keep-latest', '1', '--older-than', '30', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  const removed = j.removed.map((x: { path: string }) => x.path);
  // 57 is the newest: warm; 56 goes
  assert.ok(removed.includes(path.relative(cache, deb(kernels[1], 'headers'))));
  for (const f of kernels[2].files) assert.ok(await exists(deb(kernels[2], f.role)), f.role);
  assert.ok(j.kept.some((k: { reason: string }) => /^warm: 6\.1\.0-57-amd64 \(--keep-latest 1\)/.test(k.reason)));

  await makeCache();
  // only 57's oracle module is recent; with --keep-latest 0 and --older-than 30 it stays
  const o = run(['cache', 'prune', '--older-than', '30', '--json']);
  assert.is(o.status, 0, o.stderr);
  const oj = JSON.parse(o.stdout);
  const oracle = `debian12/derived/oracle-${kernels[2].files.find((f) => f.role === 'image')!.sha256}.ko`;
  assert.ok(oj.kept.some((k: { path: string; reason: string }) => k.path === oracle && k.reason === 'modified within 30 days'));
  assert.ok(await exists(path.join(cache, oracle)));
  assert.ok(oj.removed.some((x: { path: string }) => x.path === path.relative(cache, deb(kernels[2], 'source'))));
  // a derived tree is as old as its files, whatever its directory's own time
  assert.ok(oj.removed.some((x: { path: string }) => x.path === `debian12/derived/kbuild-${headersKey(kernels[2])}`));
});

test('cache prune keeps the files of a kernel being built and an unfinished extraction written lately', async () => {
  await makeCache();
  // a running build of 6.1.0-56-amd64: its scratch directory, owned by this (live) process
  const scratch = path.join(tmp, 'tmpdir', 'nbdforge-6.1.0-56-amd64-Xy12Zw');
  await fs.mkdir(scratch);
  await fs.writeFile(path.join(scratch, '.nbdforge-owner'), `nbdforge ${process.pid} ?\n`);
  await write(path.join(derived('.tmp-src-fresh1'), 'nbd.c'), 20);
  const r = run(['cache', 'prune', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  for (const f of kernels[1].files) assert.ok(await exists(deb(kernels[1], f.role)), f.role);
  assert.ok(j.kept.some((k: { reason: string }) => k.reason === 'in use: a build of 6.1.0-56-amd64 is running'));
  assert.ok(await exists(derived('.tmp-src-fresh1')));
  assert.not.ok(await exists(derived('.tmp-kbuild-abc123')));
  assert.not.ok(await exists(deb(kernels[2], 'headers')));
});

test('cache prune leaves the files of a family with no cached catalog, and refuses a cache link out of the tree', async () => {
  await makeCache();
  await fs.rm(path.join(cache, 'catalog', 'el7.json'));
  const r = run(['cache', 'prune', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.not.ok(j.removed.some((x: { path: string }) => x.path.startsWith('sha256/') || x.path.startsWith('el7/')));
  assert.ok(await exists(cas(sha('stray'))));
  assert.ok(j.kept.some((k: { reason: string }) => /no cached el7 catalog/.test(k.reason)));

  // the derived directory itself a link to a directory outside: not looked into, nothing there removed
  await makeCache();
  const d = path.join(cache, 'debian12', 'derived');
  await fs.rename(d, path.join(tmp, 'outside', 'derived'));
  await fs.symlink(path.join(tmp, 'outside', 'derived'), d);
  const l = run(['cache', 'prune', '--json']);
  assert.is(l.status, 0, l.stderr);
  assert.ok(JSON.parse(l.stdout).notes.some((n: string) => /debian12\/derived is a link/.test(n)));
  assert.ok(await exists(path.join(tmp, 'outside', 'derived', '.tmp-kbuild-abc123', 'half')));
});

test('removeInside: an entry whose directory resolves outside the cache is refused and left as it is', async () => {
  await makeCache();
  const cacheReal = await fs.realpath(cache);
  // a link inside the cache to a directory outside: removing "through" it is refused
  await fs.symlink(path.join(tmp, 'outside', 'tree'), path.join(cache, 'debian12', 'outlink'));
  const err = await removeInside(path.join(cache, 'debian12', 'outlink', 'keep.me'), cacheReal).then(() => undefined, (e: Error) => e);
  assert.match(String(err?.message), /outside the cache .*: not removed/);
  assert.ok(await exists(path.join(tmp, 'outside', 'tree', 'keep.me')));
  // the link itself is inside: it goes as a link, its target stays
  await removeInside(path.join(cache, 'debian12', 'outlink'), cacheReal);
  assert.not.ok(await exists(path.join(cache, 'debian12', 'outlink')));
  assert.ok(await exists(path.join(tmp, 'outside', 'tree', 'keep.me')));
  // the cache root itself is not "inside" it
  const root = await removeInside(cache, cacheReal).then(() => undefined, (e: Error) => e);
  assert.match(String(root?.message), /not removed/);
  assert.ok(await exists(cache));
});

test('cache: usage errors and help', () => {
  for (const [args, re] of [
    [['cache'], /give a subcommand: nbdforge cache du \| prune/],
    [['cache', 'dust'], /unknown subcommand "dust"/],
    [['cache', 'du', '--dry-run'], /--dry-run goes with cache prune/],
    [['cache', 'prune', '--keep-latest', 'two'], /--keep-latest takes a number of kernels/],
    [['cache', 'du', '--family', 'centos7'], /did you mean el7/],
  ] as Array<[string[], RegExp]>) {
    const r = run(args);
    assert.is(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re);
  }
  const h = run(['cache', '--help']);
  assert.is(h.status, 0);
  assert.match(h.stdout, /Usage: nbdforge cache du/);
  assert.match(h.stdout, /Examples:\n {2}nbdforge cache du/);
  assert.match(h.stdout, /Exit status: 0/);
});

test.run();
