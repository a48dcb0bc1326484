/**
 * The el7 catalog against a local vault made of real RPMs (rpmbuild), real repodata (createrepo_c)
 * and repomd.xml signed with a test key generated here (gpg): the CentOS vault itself is not
 * reachable from this machine, so the same code is proven against the same file formats.
 */
import { suite } from 'uvu';
import { reportHookErrors } from '../hook-errors.ts';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { $ } from 'zx';
import { sha256File } from '../../src/util/hash.ts';
import { download, cachePath, ChecksumError } from '../../src/fetch/index.ts';
import {
  syncElCatalog,
  loadElData,
  familyDataDir,
  readElCatalog,
  keyFileFingerprints,
  verifyDetached,
  ElSyncError,
  VaultUnreachableError,
  SignatureError,
  fetchElSources,
  verifyRpmSignature,
  elCatalogResult,
  ensureElSources,
  CatalogMissingError,
  type ElData,
  type ElSyncOptions,
} from '../../src/families/el/catalog/index.ts';
import { listEl, syncEl, formatElList, formatElSync } from '../../src/families/el/cli.ts';
import { buildVault, stopVaultAgents, type VaultFixture } from '../fixtures/vault/build-vault.ts';
import { startFixtureServer, type FixtureServer } from '../fixtures/vault/server.ts';

const ctx = {} as { dir: string; vault: VaultFixture; server: FixtureServer; data: ElData; n: number };
const test = reportHookErrors(suite('el7: catalog from a local vault'));
const RELEASES = ['7.8.2003', '7.9.2009'];
const fast = { retry: { retries: 1, baseDelayMs: 5, maxDelayMs: 10 } };
const freshCache = () => fs.mkdtemp(path.join(ctx.dir, `cache-${ctx.n++}-`));
const opts = async (over: Partial<ElSyncOptions> = {}): Promise<ElSyncOptions> => ({
  cacheDir: await freshCache(),
  data: ctx.data,
  vault: ctx.server.url,
  releases: RELEASES,
  keyFile: ctx.vault.key.file,
  fingerprint: ctx.vault.key.fingerprint,
  now: () => new Date('2026-01-02T03:04:05.000Z'),
  ...fast,
  ...over,
});
async function refused(p: Promise<unknown>): Promise<ElSyncError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, ElSyncError);
    return err as ElSyncError;
  }
  throw new Error('expected the sync to be refused');
}
const exists = (f: string | URL) => fs.stat(f).then(() => true, () => false);

test.before(async () => {
  ctx.dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-el7-'));
  ctx.n = 0;
  ctx.vault = await buildVault(ctx.dir);
  ctx.server = await startFixtureServer(ctx.vault.root);
  ctx.data = await loadElData(familyDataDir('el7'), 'el7');
});
test.after(async () => {
  await ctx.server?.close();
  if (ctx.vault) await stopVaultAgents(ctx.vault);
  await fs.rm(ctx.dir, { recursive: true, force: true });
});
test.before.each(() => ctx.server.clearFaults());

test('the committed CentOS 7 key file has the fingerprint of releases.json', async () => {
  const home = await fs.mkdtemp(path.join(ctx.dir, 'gpg-'));
  assert.equal(await keyFileFingerprints(ctx.data.keyFile, home), ['6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5']);
  assert.is(ctx.data.fingerprint, '6341AB2753D78A78A7C27BB124C6A8A7F4A80EB5');
  assert.equal(ctx.data.releases.map((r) => r.release), ['7.0.1406', '7.1.1503', '7.2.1511', '7.3.1611', '7.4.1708', '7.5.1804', '7.6.1810', '7.7.1908', '7.8.2003', '7.9.2009']);
});

test('sync over HTTP: every kernel SRPM and kernel-devel, with sha256, size and location', async () => {
  const o = await opts();
  const r = await syncElCatalog(o);
  assert.equal(r.problems, []);
  const c = r.catalog;
  assert.is(r.file, path.join(o.cacheDir, 'catalog', 'el7.json'));
  assert.is(c.syncedAt, '2026-01-02T03:04:05.000Z');
  assert.is(c.repos.length, 8);
  assert.ok(c.repos.every((s) => s.signer === ctx.vault.key.fingerprint));
  assert.equal(c.unpaired, []);
  assert.equal(
    c.kernels.map((k) => [k.release, k.repo, k.kernelRelease, k.version]),
    [
      ['7.8.2003', 'os', '3.10.0-1127.el7.x86_64', '3.10.0-1127.el7'],
      ['7.9.2009', 'os', '3.10.0-1160.el7.x86_64', '3.10.0-1160.el7'],
      ['7.9.2009', 'updates', '3.10.0-1160.119.1.el7.x86_64', '3.10.0-1160.119.1.el7'],
    ],
  );
  const k = c.kernels[2];
  assert.is(k.srpm.path, '7.9.2009/updates/Source/SPackages/kernel-3.10.0-1160.119.1.el7.src.rpm');
  assert.is(k.devel.path, '7.9.2009/updates/x86_64/Packages/kernel-devel-3.10.0-1160.119.1.el7.x86_64.rpm');
  assert.is(k.srpm.url, `${ctx.server.url}/${k.srpm.path}`);
  for (const kk of c.kernels) {
    for (const f of [kk.srpm, kk.devel]) {
      const onDisk = path.join(ctx.vault.root, f.path);
      assert.is(f.sha256, await sha256File(onDisk), f.path);
      assert.is(f.size, (await fs.stat(onDisk)).size, f.path);
    }
  }
  assert.equal(await readElCatalog(o.cacheDir, 'el7'), c);
});

test('catalog entries drive verified downloads; the SRPM holds linux-<v>.tar.xz with drivers/block/nbd.c', async () => {
  const o = await opts();
  const { catalog } = await syncElCatalog(o);
  const k = catalog.kernels.find((x) => x.version === '3.10.0-1160.el7')!;
  const srpm = await download({ url: k.srpm.url, sha256: k.srpm.sha256, size: k.srpm.size, cacheDir: o.cacheDir });
  const devel = await download({ url: k.devel.url, sha256: k.devel.sha256, size: k.devel.size, cacheDir: o.cacheDir });
  assert.is(srpm, cachePath(o.cacheDir, k.srpm.sha256));
  const x = path.join(ctx.dir, `x-${ctx.n++}`);
  await fs.mkdir(x);
  await $({ cwd: x, quiet: true })`rpm2cpio ${srpm} | cpio -id --quiet`;
  const tarball = path.join(x, 'linux-3.10.0-1160.el7.tar.xz');
  const members = (await $({ quiet: true })`tar -tJf ${tarball}`).stdout.split('\n');
  assert.ok(members.includes('linux-3.10.0-1160.el7/drivers/block/nbd.c'), members.join(' '));
  const files = (await $({ quiet: true })`rpm -qpl ${devel}`).stdout.split('\n');
  assert.ok(files.includes('/usr/src/kernels/3.10.0-1160.el7.x86_64/Module.symvers'));
});

test('the vault base may be a local directory or a file:// URL', async () => {
  const viaHttp = (await syncElCatalog(await opts())).catalog;
  for (const vault of [ctx.vault.root, pathToFileURL(ctx.vault.root).href]) {
    const c = (await syncElCatalog(await opts({ vault }))).catalog;
    assert.equal(
      c.kernels.map((k) => [k.kernelRelease, k.srpm.path, k.srpm.sha256, k.devel.sha256]),
      viaHttp.kernels.map((k) => [k.kernelRelease, k.srpm.path, k.srpm.sha256, k.devel.sha256]),
    );
    const f = c.kernels[0].devel;
    assert.ok(await exists(f.url.startsWith('file:') ? new URL(f.url) : f.url), f.url);
  }
});

test('a tampered repomd.xml (bad signature) is refused and no catalog is written', async () => {
  const o = await opts();
  const p = '/7.9.2009/os/x86_64/repodata/repomd.xml';
  const real = await fs.readFile(path.join(ctx.vault.root, p));
  ctx.server.fault(p, { body: Buffer.from(real.toString().replace(/<revision>\d+/, '<revision>1')), times: Infinity });
  const err = await refused(syncElCatalog(o));
  assert.is(err.problems.length, 1);
  assert.is(err.problems[0].repo, '7.9.2009/os/x86_64');
  assert.instance(err.problems[0].error, SignatureError);
  assert.match(err.problems[0].error.message, 'BADSIG');
  assert.match(err.problems[0].error.message, `${ctx.server.url}${p}`);
  assert.not.ok(await exists(path.join(o.cacheDir, 'catalog', 'el7.json')));
});

test('repomd.xml signed by a key other than the configured one is refused', async () => {
  const p = '7.9.2009/updates/Source/repodata/repomd.xml';
  const copy = path.join(ctx.dir, `repomd-${ctx.n++}.xml`);
  await fs.copyFile(path.join(ctx.vault.root, p), copy);
  await ctx.vault.sign(copy, 'otherKey');
  ctx.server.fault(`/${p}.asc`, { body: await fs.readFile(`${copy}.asc`), times: Infinity });
  const err = await refused(syncElCatalog(await opts()));
  assert.equal(err.problems.map((x) => x.repo), ['7.9.2009/updates/Source']);
  assert.match(err.problems[0].error.message, /signature refused \((ERRSIG|NO_PUBKEY)/);
});

test('a key file whose fingerprint is not the configured one is refused before any verification', async () => {
  let err = await refused(syncElCatalog(await opts({ keyFile: ctx.vault.otherKey.file })));
  assert.is(err.problems.length, 8);
  assert.ok(err.problems.every((x) => x.error instanceof SignatureError && x.error.message.includes(`expected exactly ${ctx.vault.key.fingerprint}`)));
  err = await refused(syncElCatalog(await opts({ fingerprint: ctx.vault.otherKey.fingerprint })));
  assert.ok(err.problems.every((x) => x.error.message.includes(`holds key ${ctx.vault.key.fingerprint}`)));
  // The real CentOS key cannot vouch for the test vault.
  err = await refused(syncElCatalog(await opts({ keyFile: undefined, fingerprint: undefined })));
  assert.ok(err.problems.every((x) => /signature refused/.test(x.error.message)));
});

test('verifyDetached: a signature for other data is BADSIG', async () => {
  const repomd = path.join(ctx.vault.root, '7.8.2003/os/x86_64/repodata/repomd.xml');
  const signature = await fs.readFile(`${repomd}.asc`);
  const ok = await verifyDetached({ data: await fs.readFile(repomd), signature, keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint, what: 'repomd' });
  assert.is(ok, ctx.vault.key.fingerprint);
  try {
    await verifyDetached({ data: Buffer.from('other'), signature, keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint, what: 'x' });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, SignatureError);
    assert.match((err as Error).message, 'BADSIG');
  }
});

test('a primary.xml.gz whose sha256 differs from repomd.xml is refused and not cached', async () => {
  const o = await opts();
  const repo = '7.8.2003/os/Source';
  const xml = await fs.readFile(path.join(ctx.vault.root, repo, 'repodata/repomd.xml'), 'utf8');
  const href = /href="(repodata\/[0-9a-f]{64}-primary\.xml\.gz)"/.exec(xml)![1];
  const sha = /[0-9a-f]{64}/.exec(href)![0];
  ctx.server.fault(`/${repo}/${href}`, { corruptAt: 20, times: Infinity });
  const err = await refused(syncElCatalog(o));
  assert.equal(err.problems.map((x) => x.repo), [repo]);
  assert.instance(err.problems[0].error, ChecksumError);
  assert.match(err.problems[0].error.message, href);
  assert.not.ok(await exists(cachePath(o.cacheDir, sha)));
  assert.not.ok(await exists(path.join(o.cacheDir, 'catalog', 'el7.json')));
});

test('a missing signature (404) is refused with the URL in the message', async () => {
  const p = '/7.8.2003/updates/x86_64/repodata/repomd.xml.asc';
  ctx.server.fault(p, { status: 404, times: Infinity });
  const err = await refused(syncElCatalog(await opts()));
  assert.match(err.message, `${ctx.server.url}${p}: HTTP 404`);
});

test('--allow-partial writes what verified and lists what did not', async () => {
  ctx.server.fault('/7.9.2009/updates/x86_64/repodata/repomd.xml', { status: 404, times: Infinity });
  const o = await opts({ allowPartial: true });
  const r = await syncElCatalog(o);
  assert.is(r.problems.length, 1);
  assert.is(r.catalog.repos.length, 7);
  assert.equal(r.catalog.kernels.map((k) => k.version), ['3.10.0-1127.el7', '3.10.0-1160.el7']);
  assert.equal(r.catalog.unpaired, ['7.9.2009/updates/Source/SPackages/kernel-3.10.0-1160.119.1.el7.src.rpm']);
  assert.is(r.catalog.problems?.length, 1);
  assert.match(formatElSync(r), 'FAILED 7.9.2009/updates/x86_64');
  assert.match(formatElSync(r), `2 kernel(s) from 7 repositories signed by ${ctx.vault.key.fingerprint} at`);
});

test('--allow-partial with every repository failing writes nothing: the good catalog stays (issue 8.4)', async () => {
  const o = await opts();
  const good = await syncElCatalog(o);
  const before = await fs.readFile(good.file, 'utf8');
  for (const rel of RELEASES) for (const repo of ['os', 'updates']) for (const arch of ['Source', 'x86_64'])
    ctx.server.fault(`/${rel}/${repo}/${arch}/repodata/repomd.xml`, { status: 404, times: Infinity });
  const err = await refused(syncElCatalog({ ...o, allowPartial: true }));
  assert.is(err.problems.length, 8);
  assert.is(await fs.readFile(good.file, 'utf8'), before);
});

test('a sync of one release merges into the catalog instead of replacing it (issue 8.4)', async () => {
  const o = await opts();
  await syncElCatalog(o);
  const r = await syncElCatalog({ ...o, releases: ['7.9.2009'], now: () => new Date('2026-02-03T00:00:00.000Z') });
  assert.equal([...new Set(r.catalog.repos.map((x) => x.release))], RELEASES);
  assert.equal(r.catalog.kernels.map((k) => k.version), ['3.10.0-1127.el7', '3.10.0-1160.el7', '3.10.0-1160.119.1.el7']);
  assert.equal((await readElCatalog(o.cacheDir, 'el7')).kernels.length, 3);
  assert.is(r.catalog.syncedAt, '2026-02-03T00:00:00.000Z');
});

test('a vault that refuses connections fails in seconds with one line naming it (issue 8.6)', async () => {
  const net = await import('node:net');
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  const vault = `http://127.0.0.1:${port}/vault`;
  const warnings: string[] = [];
  const onWarn = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarn);
  const t0 = Date.now();
  try {
    await syncElCatalog(await opts({ vault, releases: undefined, retry: undefined }));
    assert.unreachable();
  } catch (err) {
    assert.instance(err, VaultUnreachableError);
    const msg = (err as Error).message;
    assert.not.match(msg, '\n');
    assert.match(msg, vault);
    assert.match(msg, 'connection refused');
    assert.match(msg, 'check --vault');
  } finally {
    process.off('warning', onWarn);
  }
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.equal(warnings, []);
});

test('bad --vault values are usage errors before any request (issue 8.6)', async () => {
  for (const vault of ['', 'ftp://example.invalid/vault', 'http://', 'http//no-scheme-typo', '/no/such/dir/anywhere']) {
    try {
      await syncEl({ family: 'el7', cacheDir: await freshCache(), vault });
      assert.unreachable(vault);
    } catch (err) {
      assert.is((err as Error).name, 'UsageError', `${vault}: ${(err as Error).message}`);
      assert.match((err as Error).message, '--vault');
    }
  }
});

test('command functions: syncEl then listEl with --release and kernel filters', async () => {
  const cacheDir = await freshCache();
  try {
    await listEl({ family: 'el7', cacheDir });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, CatalogMissingError);
    assert.match((err as Error).message, 'nbdforge kernels sync --family el7');
  }
  const r = await syncEl({ family: 'el7', cacheDir, vault: ctx.vault.root, keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint, release: '7.9.2009' });
  assert.equal([...new Set(r.catalog.repos.map((x) => x.release))], ['7.9.2009']);
  const all = await listEl({ family: 'el7', cacheDir });
  assert.is(all.kernels.length, 2);
  assert.is((await listEl({ family: 'el7', cacheDir, release: '7.9.2009', kernels: ['3.10.0-1160.119.1.el7.x86_64'] })).kernels[0].version, '3.10.0-1160.119.1.el7');
  assert.is((await listEl({ family: 'el7', cacheDir, kernels: ['3.10.0-1160.el7'] })).kernels.length, 1);
  for (const bad of [{ release: '7.1.1503' }, { kernels: ['3.10.0-9.el7'] }]) {
    try {
      await listEl({ family: 'el7', cacheDir, ...bad });
      assert.unreachable();
    } catch (err) {
      assert.is((err as Error).name, 'UsageError');
    }
  }
  try {
    await syncEl({ family: 'el7', cacheDir, release: '7.10.2099' });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).name, 'UsageError');
  }
  const text = formatElList(all);
  assert.match(text, /^RELEASE +REPO +KERNEL +SRPM +DEVEL\n7\.9\.2009 +os +3\.10\.0-1160\.el7\.x86_64 /);
  assert.match(text, '2 kernel(s); catalog synced');
});

test('packages: fetched by catalog entry, sha256 from repodata and RPM signature by the key', async () => {
  const o = await opts();
  const { catalog } = await syncElCatalog(o);
  const k = catalog.kernels.find((x) => x.version === '3.10.0-1160.119.1.el7')!;
  const keys = { keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint };
  const files = await fetchElSources(k, { cacheDir: o.cacheDir, ...keys });
  assert.equal(files, { srpm: cachePath(o.cacheDir, k.srpm.sha256), devel: cachePath(o.cacheDir, k.devel.sha256) });
  // Another base with the same layout (an internal mirror, a directory) serves the same files.
  const other = await fetchElSources(k, { cacheDir: await freshCache(), vault: ctx.vault.root, ...keys });
  assert.is(await sha256File(other.devel), k.devel.sha256);
  try {
    await fetchElSources(k, { cacheDir: await freshCache(), keyFile: ctx.vault.otherKey.file, fingerprint: ctx.vault.otherKey.fingerprint });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, SignatureError);
    assert.match((err as Error).message, 'NOKEY');
  }
});

test('RPM signatures: unsigned or signed by another key is refused', async () => {
  const keys = { keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint };
  const srpmDir = path.join(ctx.dir, 'rpmbuild', '3.10.0-1127.el7', 'SRPMS');
  const unsigned = path.join(srpmDir, 'kernel-3.10.0-1127.el7.src.rpm');
  try {
    await verifyRpmSignature({ file: unsigned, ...keys });
    assert.unreachable();
  } catch (err) {
    assert.instance(err, SignatureError);
    assert.match((err as Error).message, `no signature by key ${ctx.vault.key.fingerprint.slice(-8).toLowerCase()}`);
  }
  const foreign = path.join(ctx.dir, `foreign-${ctx.n++}.src.rpm`);
  await fs.copyFile(unsigned, foreign);
  await ctx.vault.signRpm(foreign, 'otherKey');
  try {
    await verifyRpmSignature({ file: foreign, ...keys });
    assert.unreachable();
  } catch (err) {
    assert.match((err as Error).message, /RPM signature refused \(.*NOKEY/);
  }
  assert.is(await verifyRpmSignature({ file: path.join(ctx.vault.root, '7.8.2003/os/Source/SPackages/kernel-3.10.0-1127.el7.src.rpm'), ...keys }), keys.fingerprint.slice(-8).toLowerCase());
});

test('an unsigned repository (no repomd.xml.asc) is accepted only when asked; a bad signature never is', async () => {
  const asc = '/7.8.2003/os/x86_64/repodata/repomd.xml.asc';
  ctx.server.fault(asc, { status: 404, times: Infinity });
  await refused(syncElCatalog(await opts()));
  const r = await syncElCatalog(await opts({ allowUnsignedRepodata: true }));
  assert.is(r.catalog.repos.find((x) => x.url.endsWith('7.8.2003/os/x86_64/repodata/repomd.xml'))!.signer, null);
  assert.is(r.catalog.kernels.length, 3);
  ctx.server.clearFaults();
  ctx.server.fault('/7.8.2003/os/x86_64/repodata/repomd.xml', { corruptAt: 60, times: Infinity });
  await refused(syncElCatalog(await opts({ allowUnsignedRepodata: true })));
});

test('family adapter: catalog result and ensureSources in the shape of src/families/family.ts', async () => {
  const o = await opts();
  const r = await elCatalogResult(o);
  assert.equal(r.skipped, []);
  assert.is(r.fetchedAt, '2026-01-02T03:04:05.000Z');
  const e = r.kernels.find((k) => k.kernelRelease === '3.10.0-1160.119.1.el7.x86_64')!;
  assert.is(e.release, '7.9.2009');
  assert.is(e.sourceVersion, '3.10.0-1160.119.1.el7');
  assert.equal(e.files.map((f) => [f.role, f.name, f.filename]), [
    ['srpm', 'kernel', 'kernel-3.10.0-1160.119.1.el7.src.rpm'],
    ['devel', 'kernel-devel', 'kernel-devel-3.10.0-1160.119.1.el7.x86_64.rpm'],
  ]);
  // Served from the cached catalog: no request to the vault.
  const before = ctx.server.requests.length;
  assert.equal((await elCatalogResult({ ...o, vault: 'http://127.0.0.1:9/unreachable' })).kernels, r.kernels);
  assert.is(ctx.server.requests.length, before);
  const files = await ensureElSources(e.kernelRelease, { cacheDir: o.cacheDir, data: ctx.data, keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint });
  assert.is(await sha256File(files.devel), e.files[1].sha256);
  try {
    await ensureElSources('3.10.0-1.el7.x86_64', { cacheDir: o.cacheDir, data: ctx.data, keyFile: ctx.vault.key.file, fingerprint: ctx.vault.key.fingerprint });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).name, 'UnknownKernelError');
  }
});

test.run();
