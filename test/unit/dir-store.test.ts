import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { DirStore, StoreError, StoreCorruptError } from '../../src/artifacts/dir-store.ts';
import type { Manifest } from '../../src/artifacts/manifest.ts';
import { buildModule } from './fixtures-elf.ts';

const sha = (data: string | Uint8Array) => createHash('sha256').update(data).digest('hex');

let tmp: string;

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-dir-store-'));
});

test.after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

/** A fresh, not yet created store root and a pair of module files with a matching manifest. */
async function fixture(name: string, over: Partial<Manifest> = {}, content = `\x7fELF module for ${name}`) {
  const root = path.join(tmp, name, 'store');
  const src = path.join(tmp, name, 'src-' + sha(JSON.stringify(over)).slice(0, 8));
  await fs.mkdir(src, { recursive: true });
  const kernelRelease = over.kernelRelease ?? '6.1.0-56-amd64';
  // A real module (put reads its vermagic against the release it is filed under).
  const ko = Buffer.from(buildModule({ vermagic: `${kernelRelease} SMP preempt mod_unload modversions `, greeting: content }).bytes);
  const debug = Buffer.from(`${content} with debug info`);
  await fs.writeFile(path.join(src, 'nbd.ko'), ko);
  await fs.writeFile(path.join(src, 'nbd.ko.debug'), debug);
  const manifest: Manifest = {
    schema: 1,
    key: sha(`key ${name} ${kernelRelease}`),
    family: 'debian12',
    kernelRelease,
    module: 'nbd',
    file: 'nbd.ko',
    debugFile: 'nbd.ko.debug',
    sha256: sha(ko),
    size: ko.length,
    debugSha256: sha(debug),
    vermagic: `${kernelRelease} SMP preempt mod_unload modversions `,
    checks: [
      { name: 'vermagic', ok: true, detail: 'matches' },
      { name: 'crcs', ok: true, detail: 'all match' },
    ],
    inputs: { 'linux-source-6.1': sha('src') },
    builderImage: 'sha256:' + sha('image'),
    compiler: 'gcc-12',
    durationMs: 1000,
    tool: { name: 'nbdforge', version: '0.1.0' },
    createdAt: '2025-01-02T03:04:05.000Z',
    ...over,
  };
  return { root, store: new DirStore(root), manifest, files: { module: path.join(src, 'nbd.ko'), debug: path.join(src, 'nbd.ko.debug') }, ko, debug };
}

async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    out.push(p);
    if (e.isDirectory()) out.push(...(await walk(p)));
  }
  return out;
}

const exists = (p: string) => fs.stat(p).then(() => true, () => false);

test('put stores the files and manifest under <family>/<kernel>/<module>-<key12>/ and indexes them', async () => {
  const { root, store, manifest, files, ko, debug } = await fixture('put-ok');
  const entry = await store.put(manifest, files);
  const rel = path.join('debian12', '6.1.0-56-amd64', `nbd-${manifest.key.slice(0, 12)}`);
  assert.is(entry.dir, rel);
  assert.is(entry.key, manifest.key);
  assert.is(entry.sha256, manifest.sha256);
  assert.is(entry.file, 'nbd.ko');
  assert.is(entry.vermagic, manifest.vermagic);

  const dir = path.join(root, rel);
  assert.equal((await fs.readdir(dir)).sort(), ['manifest.json', 'nbd.ko', 'nbd.ko.debug']);
  assert.equal(await fs.readFile(path.join(dir, 'nbd.ko')), ko);
  assert.equal(await fs.readFile(path.join(dir, 'nbd.ko.debug')), debug);
  assert.equal(JSON.parse(await fs.readFile(path.join(dir, 'manifest.json'), 'utf8')), manifest);

  const idx = JSON.parse(await fs.readFile(path.join(root, 'index.json'), 'utf8'));
  assert.is(idx.schema, 1);
  assert.equal(idx.artifacts, [entry]);
  assert.equal(await store.readIndex(), idx);

  assert.equal(await store.findByKey(manifest.key), entry);
  assert.is(await store.findByKey(sha('other')), undefined);
  assert.equal(await store.list(), [entry]);
  assert.equal(await store.list({ family: 'debian12', kernelRelease: '6.1.0-56-amd64', module: 'nbd' }), [entry]);
  assert.equal(await store.list({ kernelRelease: '6.1.0-47-amd64' }), []);
  assert.equal(await store.list({ family: 'el7' }), []);
  assert.equal(await store.readManifest(entry), manifest);
  assert.is(store.artifactPath(entry), path.join(dir, 'nbd.ko'));
  assert.is(store.artifactPath(entry, 'nbd.ko.debug'), path.join(dir, 'nbd.ko.debug'));

  // no temp or lock files left behind
  const all = await walk(root);
  assert.equal(all.filter((p) => p.includes('.tmp-') || p.endsWith('.lock')), []);
});

test('put refuses a manifest with a failed check: no directory, no index entry', async () => {
  const { root, store, manifest, files } = await fixture('put-failed-check', {
    checks: [
      { name: 'vermagic', ok: true, detail: 'matches' },
      { name: 'crcs', ok: false, detail: '1 of 61 imported symbols differ' },
    ],
  });
  try {
    await store.put(manifest, files);
    assert.unreachable('put should throw');
  } catch (err) {
    assert.instance(err, StoreError);
    assert.match((err as Error).message, /failed checks crcs/);
  }
  assert.is(await exists(path.join(root, 'debian12')), false);
  assert.is(await exists(path.join(root, 'index.json')), false);
  assert.equal((await store.readIndex()).artifacts, []);
  assert.is(await store.findByKey(manifest.key), undefined);
});

test('put rejects an invalid manifest before touching the store', async () => {
  const { root, store, manifest, files } = await fixture('put-invalid');
  await store.put({ ...manifest, sha256: 'nope' }, files).then(
    () => assert.unreachable('put should throw'),
    (err: Error) => assert.is(err.name, 'ManifestError'),
  );
  assert.equal(await walk(root), []);
});

test('put with a sha256 that does not match the file: throws, no artifact dir, no *.tmp-* leftovers', async () => {
  const { root, store, manifest, files } = await fixture('put-bad-sha', { sha256: sha('something else') });
  try {
    await store.put(manifest, files);
    assert.unreachable('put should throw');
  } catch (err) {
    assert.instance(err, StoreError);
    assert.match((err as Error).message, /does not match the manifest sha256/);
  }
  const all = await walk(root);
  assert.equal(all.filter((p) => p.includes('.tmp-')), []);
  assert.is(await exists(path.join(root, 'debian12', '6.1.0-56-amd64', `nbd-${manifest.key.slice(0, 12)}`)), false);
  assert.equal(all.filter((p) => path.basename(p).startsWith('nbd') || p.endsWith('manifest.json')), []);
  assert.equal((await store.readIndex()).artifacts, []);
});

test('a second put for the same family/kernel/module with another key replaces the index entry', async () => {
  const first = await fixture('put-replace');
  const e1 = await first.store.put(first.manifest, first.files);
  const second = await fixture('put-replace', { key: sha('rebuilt with another image'), builderImage: 'sha256:' + sha('image 2') }, 'rebuilt module');
  const e2 = await first.store.put(second.manifest, second.files);
  assert.is.not(e1.key, e2.key);
  assert.is.not(e1.dir, e2.dir);

  const idx = await first.store.readIndex();
  assert.equal(idx.artifacts, [e2]);
  assert.is(await first.store.findByKey(e1.key), undefined);
  assert.equal(await first.store.findByKey(e2.key), e2);
  assert.equal(await first.store.readManifest(e2), second.manifest);
  assert.equal(await fs.readFile(first.store.artifactPath(e2)), second.ko);

  // the same manifest again (build --force) replaces it atomically: new name renamed in, old one removed after
  const e3 = await first.store.put(second.manifest, second.files);
  assert.equal({ ...e3, dir: e2.dir }, e2);
  assert.match(e3.dir, new RegExp(`^${e2.dir.replace(/[.]/g, '\\.')}\\.[0-9a-f]{8}$`));
  assert.equal((await first.store.readIndex()).artifacts, [e3]);
  assert.is(await exists(path.join(first.root, e2.dir)), false);
});

test('concurrent puts for different kernels all end up in the index (lock)', async () => {
  const kernels = ['6.1.0-56-amd64', '6.1.0-47-amd64', '6.1.0-9-amd64', '6.1.0-10-amd64', '6.1.0-28-amd64', '6.1.0-31-amd64'];
  const fx = await Promise.all(kernels.map((k) => fixture('put-concurrent', { kernelRelease: k }, `module for ${k}`)));
  const store = fx[0].store;
  const entries = await Promise.all(fx.map((f) => store.put(f.manifest, f.files)));
  const idx = await store.readIndex();
  assert.is(idx.artifacts.length, kernels.length);
  // sorted by kernel release, numerically
  assert.equal(
    idx.artifacts.map((a) => a.kernelRelease),
    ['6.1.0-9-amd64', '6.1.0-10-amd64', '6.1.0-28-amd64', '6.1.0-31-amd64', '6.1.0-47-amd64', '6.1.0-56-amd64'],
  );
  for (const e of entries) {
    assert.equal(await store.findByKey(e.key), e);
    assert.ok((await fs.readFile(store.artifactPath(e))).equals(fx.find((f) => f.manifest.kernelRelease === e.kernelRelease)!.ko));
  }
  assert.is(await exists(`${store.indexFile}.lock`), false);
});

test('two concurrent puts from separate DirStore instances on the same root', async () => {
  const a = await fixture('put-two-instances', { kernelRelease: '6.1.0-47-amd64' }, 'a');
  const b = await fixture('put-two-instances', { kernelRelease: '6.1.0-56-amd64' }, 'b');
  await Promise.all([new DirStore(a.root).put(a.manifest, a.files), new DirStore(b.root).put(b.manifest, b.files)]);
  assert.equal((await a.store.list()).map((e) => e.kernelRelease), ['6.1.0-47-amd64', '6.1.0-56-amd64']);
});

test('readIndex on a missing store returns an empty index', async () => {
  const store = new DirStore(path.join(tmp, 'does', 'not', 'exist'));
  assert.equal(await store.readIndex(), { schema: 1, artifacts: [] });
  assert.equal(await store.list(), []);
  assert.is(await store.findByKey(sha('x')), undefined);
});

test('readIndex rejects a file that is not a store index', async () => {
  const root = path.join(tmp, 'not-an-index');
  await fs.mkdir(root, { recursive: true });
  await fs.writeFile(path.join(root, 'index.json'), JSON.stringify({ schema: 2, artifacts: [] }));
  await new DirStore(root).readIndex().then(
    () => assert.unreachable('should throw'),
    (err: Error) => assert.instance(err, StoreCorruptError),
  );
});

test.run();
