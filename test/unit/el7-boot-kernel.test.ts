/**
 * The el family's bootable kernel (nbdforge prove) against a local vault of real RPMs: the catalog
 * pins each kernel's binary kernel RPM by the signed repodata; supplyElBootKernel fetches it (sha256,
 * RPM signature), unpacks vmlinuz and the module tree (its own nbd out, depmod run, no symlinks) into
 * derived/boot-<sha256>; a catalog without it, or with a damaged entry, leaves the kernel unproven;
 * an RPM of another sha256 or signed by another key is refused.
 * The booting itself is test/vm/prove-el7.test.ts's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sha256File } from '../../src/util/hash.ts';
import { ChecksumError } from '../../src/fetch/index.ts';
import { NoBootKernelError } from '../../src/families/family.ts';
import { syncElCatalog, loadElData, familyDataDir, toCatalogResult, SignatureError, type ElData, type ElKernelEntry } from '../../src/families/el/catalog/index.ts';
import { supplyElBootKernel } from '../../src/families/el/boot-kernel.ts';
import { elCacheFiles, elDerivedDir } from '../../src/families/el/cache.ts';
import { resolvePaths } from '../../src/paths.ts';
import { buildVault, stopVaultAgents, type FixtureKernel, type VaultFixture } from '../fixtures/vault/build-vault.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';

const REL = '7.9.2009';
const plain: FixtureKernel = { release: REL, repo: 'os', version: '3.10.0-1160.el7' };
const booted: FixtureKernel = { release: REL, repo: 'updates', version: '3.10.0-1160.119.1.el7' };
const krel = `${booted.version}.x86_64`;
const rpmName = `kernel-${krel}.rpm`;
const VMLINUZ = Buffer.from('not really a bzImage, but the bytes the package carries\n');

let dir = '';
let vault: VaultFixture;
let server: FixtureServer;
let data: ElData;
let entries: ElKernelEntry[] = [];
let cacheDir = '';

/** The binary package's root: vmlinuz, a module tree with the distribution's own nbd.ko, el7's absolute build link. */
async function image(k: FixtureKernel): Promise<string | undefined> {
  if (k !== booted) return undefined;
  const root = path.join(dir, 'image');
  const mods = path.join(root, 'lib/modules', krel);
  await fs.mkdir(path.join(mods, 'kernel/drivers/block'), { recursive: true });
  await fs.mkdir(path.join(root, 'boot'), { recursive: true });
  await fs.writeFile(path.join(root, 'boot', `vmlinuz-${krel}`), VMLINUZ);
  await fs.writeFile(path.join(mods, 'kernel/drivers/block/nbd.ko'), 'the package would not ship this, but if it did\n');
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) await fs.writeFile(path.join(mods, f), '');
  await fs.symlink(`/usr/src/kernels/${krel}`, path.join(mods, 'build'));
  return root;
}

test.before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-boot-'));
  vault = await buildVault(dir, { kernels: [plain, booted], kernelImage: image });
  server = await startFixtureServer(vault.root);
  data = { ...(await loadElData(familyDataDir('el7'), 'el7')), keyFile: vault.key.file, fingerprint: vault.key.fingerprint };
  cacheDir = path.join(dir, 'cache');
  const { catalog } = await syncElCatalog({ cacheDir, data, vault: server.url, releases: [REL] });
  entries = toCatalogResult(catalog, data).kernels;
});
test.after(async () => {
  await server?.close();
  if (vault) await stopVaultAgents(vault);
  await fs.rm(dir, { recursive: true, force: true });
});

const ctx = () => ({ paths: resolvePaths({ NBDFORGE_HOME: path.join(dir, 'home') }) });
const opts = () => ({ cacheDir, derived: elDerivedDir(cacheDir, 'el7'), data: async () => data });
const entry = (v: string) => entries.find((e) => e.sourceVersion === v)!;

test('kernels sync records the kernel RPM beside kernel-devel; no build input changes', async () => {
  const e = entry(booted.version);
  const onDisk = path.join(vault.root, REL, 'updates', 'x86_64', 'Packages', rpmName);
  assert.equal({ ...e.kernelRpm, url: undefined }, {
    role: 'kernel', name: 'kernel', version: booted.version, filename: rpmName, sha256: await sha256File(onDisk), size: (await fs.stat(onDisk)).size,
    path: `${REL}/updates/x86_64/Packages/${rpmName}`, url: undefined,
  });
  assert.equal(e.files.map((f) => f.role), ['srpm', 'devel'], 'the kernel RPM is no build input: build keys stay');
  assert.is(entry(plain.version).kernelRpm, undefined, 'a vault without that kernel RPM');
});

test('unpack: vmlinuz and the module tree, own nbd out, depmod run, no symlink made; once', async () => {
  const e = entry(booted.version);
  const boot = supplyElBootKernel(ctx(), e, opts());
  assert.equal(boot.package, { name: 'kernel', version: booted.version, sha256: e.kernelRpm!.sha256 });
  const k = await boot.unpack();
  assert.is(k.root, path.join(elDerivedDir(cacheDir, 'el7'), `boot-${e.kernelRpm!.sha256}`));
  assert.is(k.release, krel);
  assert.equal(await fs.readFile(k.vmlinuz), VMLINUZ);
  assert.ok(await fs.stat(path.join(k.moduleDir, 'modules.dep')), 'depmod ran');
  const files = ((await fs.readdir(k.root, { recursive: true })) as string[]).sort();
  assert.not.ok(files.some((f) => f.endsWith('nbd.ko')), files.join(' '));
  assert.not.ok(files.includes(`lib/modules/${krel}/build`), 'the absolute build link is not made');
  assert.ok(files.every((f) => f === '.complete' || f === 'boot' || f === 'lib' || f.startsWith('boot/') || f.startsWith('lib/modules')), files.join(' '));
  const before = server.requests.length;
  assert.equal(await supplyElBootKernel(ctx(), e, opts()).unpack(), k);
  assert.is(server.requests.length, before, 'unpacked once: no second fetch');
  const du = elCacheFiles(cacheDir, 'el7', e);
  assert.ok(du.some((c) => c.role === `kernel (${rpmName})` && c.kind === 'download'));
  assert.ok(du.some((c) => c.role === 'bootable kernel (prove)' && c.path === k.root && c.kind === 'derived'));
});

test('no kernel RPM in the catalog, or a damaged entry: NoBootKernelError (unproven), nothing fetched', async () => {
  const before = server.requests.length;
  assert.throws(() => supplyElBootKernel(ctx(), entry(plain.version), opts()), (e: Error) => e instanceof NoBootKernelError && /^unproven: no bootable kernel in the el7 catalog for 3\.10\.0-1160\.el7\.x86_64 .*run: nbdforge kernels sync --family el7/.test(e.message));
  const e = entry(booted.version);
  for (const bad of [{ path: '../../etc/passwd' }, { sha256: 'abc' }, { size: -1 }, { filename: 'a/b.rpm' }]) {
    assert.throws(() => supplyElBootKernel(ctx(), { ...e, kernelRpm: { ...e.kernelRpm!, ...bad } }, opts()), (x: Error) => x instanceof NoBootKernelError && /malformed/.test(x.message), JSON.stringify(bad));
  }
  assert.is(server.requests.length, before);
});

test('a vault RPM that does not hash to the catalog\'s sha256 is refused, nothing unpacked', async () => {
  const e = entry(booted.version);
  const wrong = { ...e, kernelRpm: { ...e.kernelRpm!, sha256: 'f'.repeat(64) } };
  const err = await supplyElBootKernel(ctx(), wrong, opts()).unpack().catch((x: unknown) => x);
  assert.instance(err, ChecksumError);
  assert.not.ok(await fs.stat(path.join(elDerivedDir(cacheDir, 'el7'), `boot-${'f'.repeat(64)}`)).catch(() => undefined));
});

test('a kernel RPM signed by another key is refused, as kernel-devel would be; nothing unpacked', async () => {
  const e = entry(booted.version);
  const rel = `${REL}/updates/x86_64/Packages/other-${rpmName}`;
  const file = path.join(vault.root, rel);
  await fs.copyFile(path.join(vault.root, e.kernelRpm!.path), file);
  await vault.signRpm(file, 'otherKey');
  const sha = await sha256File(file);
  const other = { ...e, kernelRpm: { ...e.kernelRpm!, path: rel, url: `${server.url}/${rel}`, sha256: sha, size: (await fs.stat(file)).size } };
  const err = await supplyElBootKernel(ctx(), other, opts()).unpack().catch((x: unknown) => x);
  assert.instance(err, SignatureError);
  assert.match((err as Error).message, /RPM signature refused/);
  assert.not.ok(await fs.stat(path.join(elDerivedDir(cacheDir, 'el7'), `boot-${sha}`)).catch(() => undefined));
});

test.run();
