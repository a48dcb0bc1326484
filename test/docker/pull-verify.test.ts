/**
 * Issue 16: pull re-verifies instead of believing. Against Debian's real docker-registry on
 * 127.0.0.1 and real debian12 builds (a cache hit once built): images forged the way the probe did
 * (a flipped code byte with a self-consistent proof, a build key reused for another kernel, a tag
 * that is not the image's kernel, no diff_ids, 3,000 layers) are refused with exit 3 and nothing
 * stored; a proof signed by publish --gpg-key is checked against the pinned fingerprint.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { resolvePaths } from '../../src/paths.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { createTarget, nbdforgeVersion, pushOne } from '../../src/publish/oci/index.ts';
import { baseLayer, buildItem } from '../../src/publish/oci/build-image.ts';
import { RegistryClient } from '../../src/publish/oci/client.ts';
import { findBusybox } from '../../src/publish/oci/contents.ts';
import { digestOf } from '../../src/publish/oci/digest.ts';
import { OCI_CONFIG, type Pushable } from '../../src/publish/oci/image.ts';
import { parseReference } from '../../src/publish/oci/reference.ts';
import { parseElf } from '../../src/verify/index.ts';
import { sha256 } from '../../src/util/hash.ts';
import type { PublishItem, TargetOptions } from '../../src/publish/target.ts';
import { gpgHome, type GpgHome } from '../unit/publish-fixtures.ts';
import { itemsFrom, startRegistry, type Registry } from './oci-registry.ts';
import { startProxy, type Proxy } from './oci-proxy.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const CLI = path.join(ROOT, 'bin/nbdforge.js');
const STORE = process.env.NBDFORGE_TEST_STORE ?? path.join(resolvePaths(process.env).home, 'test-oci', 'store');
const [K47, K55] = (process.env.NBDFORGE_TEST_OCI_KERNELS ?? '6.1.0-47-amd64,6.1.0-55-amd64').split(',');
const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-pull-verify-'));
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(CLI, args, { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 300_000 });
/** For commands that talk to a server living in this process (spawnSync would block it). */
const cliAsync = (args: string[]) =>
  new Promise<{ status: number | null; stderr: string; ms: number }>((resolve) => {
    const t0 = Date.now();
    const c = spawn(CLI, args, { env: process.env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr!.on('data', (d) => (stderr += d));
    c.on('exit', (status) => resolve({ status, stderr, ms: Date.now() - t0 }));
  });

for (const k of [K47, K55]) {
  const r = cli(['build', '--family', 'debian12', '--kernel', k, '--store', STORE]);
  if (r.status !== 0) throw new Error(`building ${k} for the pull tests failed: ${r.stderr}`);
}
const items = await itemsFrom(STORE, [K47, K55]);
const item = (k: string) => items.find((i) => i.entry.kernelRelease === k)!;
const reg: Registry = await startRegistry();
const proxy: Proxy = await startProxy(reg.port);
const gpg: GpgHome = await gpgHome();
const other: GpgHome = await gpgHome('someone else <other@nbdforge.invalid>');
const opts = (extra: Partial<TargetOptions> = {}): TargetOptions => ({ family: 'debian12', env: { ...process.env, HOME: tmp }, paths: resolvePaths(process.env, { store: STORE }), ...extra });
const client = (repo: string) => new RegistryClient(parseReference(`${reg.host}/${repo}`, { allowTag: false }), { env: {} });
const bb = await findBusybox({});
const base = await baseLayer(bb);
const noIndex = async (dir: string) => assert.is(await fs.stat(path.join(dir, 'index.json')).catch(() => null), null, 'nothing stored');

test.after(async () => {
  await proxy.close();
  await reg.stop();
  for (const d of [tmp, gpg.home, other.home]) await fs.rm(d, { recursive: true, force: true });
});

/** A publish item written by hand (a forger's): module, manifest and debug module in a fresh directory. */
async function forged(name: string, ko: Buffer, manifest: Manifest, from: PublishItem): Promise<PublishItem> {
  const dir = path.join(tmp, `forged-${name}`);
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, manifest.file), ko);
  await fs.copyFile(path.join(path.dirname(from.manifestPath), manifest.debugFile), path.join(dir, manifest.debugFile));
  await fs.writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  return { entry: { ...from.entry, key: manifest.key, sha256: manifest.sha256, kernelRelease: manifest.kernelRelease }, manifest, modulePath: path.join(dir, manifest.file), manifestPath: path.join(dir, 'manifest.json') };
}

/** Push an image and its proof as nbdforge publish would, under `repo`. */
async function pushItem(repo: string, it: PublishItem, tag?: string): Promise<void> {
  const built = await buildItem(it, base, bb, nbdforgeVersion());
  const c = client(repo);
  await pushOne(c, tag ? { ...built.image, tag } : built.image);
  await pushOne(c, built.proof);
}

test('publish --gpg-key signs the proof; pull --fingerprint takes it, refuses another key and an unsigned image; no flag is a usage error', async () => {
  await createTarget(`oci://${reg.host}/signed`, opts({ gpgKey: gpg.fingerprint, env: { ...gpg.env, HOME: tmp } })).publish([item(K47)], () => {});
  await createTarget(`oci://${reg.host}/plain`, opts()).publish([item(K47)], () => {});
  const dir = path.join(tmp, 'signed-store');
  const ok = cli(['pull', `oci://${reg.host}/signed:${K47}`, '--store', dir, '--fingerprint', gpg.fingerprint, '--json']);
  assert.is(ok.status, 0, ok.stderr);
  const res = JSON.parse(ok.stdout);
  assert.is(res.signedBy, gpg.fingerprint.toUpperCase());
  assert.equal(res.checks.map((c: { name: string; ok: boolean }) => `${c.name}:${c.ok}`), ['vermagic:true', 'crcs:true', 'vermagic-shipped:true', 'oracle:true']);
  assert.is((await new DirStore(dir).list())[0].sha256, item(K47).manifest.sha256);

  const wrong = path.join(tmp, 'wrong-key-store');
  const w = cli(['pull', `oci://${reg.host}/signed:${K47}`, '--store', wrong, '--fingerprint', other.fingerprint]);
  assert.is(w.status, 3, w.stderr);
  assert.match(w.stderr, new RegExp(`holds key ${gpg.fingerprint}, expected exactly ${other.fingerprint}`));
  await noIndex(wrong);
  const u = cli(['pull', `oci://${reg.host}/plain:${K47}`, '--store', wrong, '--fingerprint', gpg.fingerprint]);
  assert.is(u.status, 3, u.stderr);
  assert.match(u.stderr, /the proof is not signed \(publish it with --gpg-key\)/);
  await noIndex(wrong);
  const none = cli(['pull', `oci://${reg.host}/plain:${K47}`, '--store', wrong]);
  assert.is(none.status, 2);
  assert.match(none.stderr, /pass --fingerprint FPR .* or --allow-unsigned/);
  const taken = cli(['pull', `oci://${reg.host}/plain:${K47}`, '--store', wrong, '--allow-unsigned']);
  assert.is(taken.status, 0, taken.stderr);
  assert.match(taken.stdout, /proof: NOT checked against a key \(--allow-unsigned\)/);
  assert.match(taken.stdout, /re-verified against the debian12 sources of 6\.1\.0-47-amd64: vermagic:ok crcs:ok vermagic-shipped:ok oracle:ok/);
});

test('M1: a module with one code byte flipped and a self-consistent proof (labels, manifest, checks all agree) is refused; nothing stored', async () => {
  const it = item(K47);
  const ko = Buffer.from(await fs.readFile(it.modulePath));
  const text = parseElf(ko).section('.text')!;
  ko[text.offset + (text.size >> 1)] ^= 0x01;
  const m: Manifest = { ...it.manifest, sha256: sha256(ko), size: ko.length };
  await pushItem('flipped', await forged('flipped', ko, m, it));
  // and signed with the publisher's own key: a signature proves who, never what
  await createTarget(`oci://${reg.host}/flipped-signed`, opts({ gpgKey: gpg.fingerprint, env: { ...gpg.env, HOME: tmp } })).publish([await forged('flipped', ko, m, it)], () => {});
  for (const [repo, trust] of [['flipped', ['--allow-unsigned']], ['flipped-signed', ['--fingerprint', gpg.fingerprint]]] as const) {
    const dir = path.join(tmp, `${repo}-store`);
    const r = cli(['pull', `oci://${reg.host}/${repo}:${K47}`, '--store', dir, ...trust]);
    assert.is(r.status, 3, r.stderr);
    assert.match(r.stderr, /nbd\.ko fails the verification a build runs against the debian12 sources of 6\.1\.0-47-amd64/);
    assert.match(r.stderr, /oracle: 1 of \d+ sections differ: \.text differs/);
    assert.match(r.stderr, /nothing stored/);
    await noIndex(dir);
  }
});

test('M2: an image filing another kernel\'s build key (a genuine 55 module with 47\'s key) does not delete the stored 47', async () => {
  const dir = path.join(tmp, 'collide-store');
  const first = cli(['pull', `oci://${reg.host}/plain:${K47}`, '--store', dir, '--allow-unsigned']);
  assert.is(first.status, 0, first.stderr);
  const [held] = await new DirStore(dir).list();
  const it = item(K55);
  const m: Manifest = { ...it.manifest, key: held.key };
  await pushItem('collide', await forged('collide', await fs.readFile(it.modulePath), m, it));
  const r = cli(['pull', `oci://${reg.host}/collide:${K55}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`its build key ${held.key.slice(0, 12)} is already the key of nbd for ${K47} \\(debian12\\).*nothing replaced`));
  const left = await new DirStore(dir).list();
  assert.equal(left, [held]);
  assert.ok((await new DirStore(dir).verify(held)).ok);
});

test('a "6.1.0-99" image (a kernel no family knows) cannot be verified: refused, the stored 47 untouched', async () => {
  const dir = path.join(tmp, 'unknown-store');
  assert.is(cli(['pull', `oci://${reg.host}/plain:${K47}`, '--store', dir, '--allow-unsigned']).status, 0);
  const [held] = await new DirStore(dir).list();
  const it = item(K47);
  const ko = Buffer.from(await fs.readFile(it.modulePath));
  // the module's vermagic rewritten to name 6.1.0-99 (same length), manifest and labels to match
  const at = ko.indexOf(`vermagic=${K47}`);
  ko.write(`vermagic=6.1.0-99-amd64`, at);
  const K99 = '6.1.0-99-amd64';
  const m: Manifest = { ...it.manifest, key: held.key, kernelRelease: K99, vermagic: it.manifest.vermagic.replace(K47, K99), sha256: sha256(ko), size: ko.length };
  await pushItem('ninety-nine', await forged('99', ko, m, it));
  const r = cli(['pull', `oci://${reg.host}/ninety-nine:${K99}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`its build key ${held.key.slice(0, 12)} is already the key of nbd for ${K47} \\(debian12\\)`));
  assert.equal(await new DirStore(dir).list(), [held]);
  // with a key of its own: no family builds 6.1.0-99, so nothing can verify it
  await pushItem('ninety-nine-own', await forged('99-own', ko, { ...m, key: sha256('99 own key') }, it));
  const own = cli(['pull', `oci://${reg.host}/ninety-nine-own:${K99}`, '--store', dir, '--allow-unsigned']);
  assert.is(own.status, 3, own.stderr);
  assert.match(own.stderr, /unknown kernel "6\.1\.0-99-amd64" for family debian12.*cannot be verified against its family's sources; nothing stored/);
  assert.equal(await new DirStore(dir).list(), [held]);
});

test('item 6: a tag that is not the image\'s kernel-release label is refused', async () => {
  await pushItem('retagged', item(K47), K55); // 47's image (and its proof) under the tag 6.1.0-55-amd64
  const dir = path.join(tmp, 'retag-store');
  const r = cli(['pull', `oci://${reg.host}/retagged:${K55}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, new RegExp(`tag ${K55} is not the image's kernel \\(label io\\.nbdforge\\.kernel-release is "${K47}"`));
  await noIndex(dir);
});

/** The image with its config rewritten (and the manifest pointing at the new config). */
function withConfig(img: Pushable, edit: (c: { rootfs: { diff_ids: string[] } }) => void): Pushable {
  const man = JSON.parse(img.manifest.toString('utf8'));
  const oldConfig = img.blobs.find((b) => b.digest === man.config.digest)!.data;
  const cfg = JSON.parse(oldConfig.toString('utf8'));
  edit(cfg);
  const data = Buffer.from(JSON.stringify(cfg));
  man.config = { mediaType: OCI_CONFIG, digest: digestOf(data), size: data.length };
  const manifest = Buffer.from(JSON.stringify(man));
  return { tag: img.tag, blobs: [...img.blobs.filter((b) => b.digest !== digestOf(oldConfig)), { digest: digestOf(data), data }], manifest, digest: digestOf(manifest) };
}

test('item 6: an image config with an empty rootfs.diff_ids (or fewer than its layers) is refused', async () => {
  const built = await buildItem(item(K47), base, bb, nbdforgeVersion());
  for (const [repo, ids] of [['no-diff-ids', []], ['short-diff-ids', ['sha256:' + '0'.repeat(64)]]] as const) {
    const c = client(repo);
    await pushOne(c, withConfig(built.image, (cfg) => void (cfg.rootfs.diff_ids = [...ids])));
    await pushOne(c, built.proof);
    const dir = path.join(tmp, `${repo}-store`);
    const r = cli(['pull', `oci://${reg.host}/${repo}:${K47}`, '--store', dir, '--allow-unsigned']);
    assert.is(r.status, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`rootfs\\.diff_ids lists ${ids.length} digests for 2 layers`));
    await noIndex(dir);
  }
});

test('item 6: a 3,000-layer manifest is refused before any blob is fetched', async () => {
  const built = await buildItem(item(K47), base, bb, nbdforgeVersion());
  const man = JSON.parse(built.image.manifest.toString('utf8'));
  man.layers = Array.from({ length: 3000 }, () => man.layers[0]);
  const manifest = Buffer.from(JSON.stringify(man));
  await pushOne(client('many-layers'), { ...built.image, manifest, digest: digestOf(manifest) });
  const dir = path.join(tmp, 'many-store');
  proxy.seen.length = 0;
  const r = await cliAsync(['pull', `oci://127.0.0.1:${proxy.port}/many-layers:${K47}`, '--store', dir, '--allow-unsigned']);
  assert.is(r.status, 3, r.stderr);
  assert.match(r.stderr, /the manifest lists 3000 layers \(nbdforge images have 2; at most 16 are read\)/);
  assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  assert.equal(proxy.seen.filter((s) => s.url.includes('/blobs/')), [], 'no blob fetched');
  await noIndex(dir);
});

test.run();
