/**
 * The debian12 pipeline against a real Docker engine and real Debian packages: the newest and the
 * oldest kernel ABI the archive offers (their nbd.c differ), the oracle, the content cache, and
 * failures that must leave no container and no artifact.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectEngine, LABEL } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { getFamily } from '../../src/families/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { buildOne, VerificationError } from '../../src/build/build-one.ts';
import { parseElf } from '../../src/verify/index.ts';
import { loadModuleSpec } from '../../src/build/module-spec.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import { sha256File } from '../../src/util/hash.ts';

const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-test-store-'));
// The download cache is shared with the main job: sources fetched once serve every run.
const paths = resolvePaths(process.env, { store: storeDir });
const docker = await connectEngine(process.env);
const family = getFamily('debian12', process.env);
const ctx = { containers: dockerContainers(docker), paths };
const store = new DirStore(storeDir);
const nbd = await loadModuleSpec('nbd');
const { kernels } = await family.catalog(ctx);
const newest = kernels[kernels.length - 1].kernelRelease;
const oldest = kernels[0].kernelRelease;
const base = { family, module: nbd, store, toolVersion: 'test' };

/** Containers this test process started (other runs on the machine may be building too). */
async function ourContainers(): Promise<number> {
  return (await docker.listContainers({ all: true, filters: { label: [LABEL, `${LABEL}.pid=${process.pid}`] } })).length;
}

test.after(async () => {
  await fs.rm(storeDir, { recursive: true, force: true });
});

test(`archive offers several ABIs (${kernels.map((k) => k.kernelRelease).join(' ')})`, () => {
  assert.ok(kernels.length >= 2, 'need at least two kernels to compare');
  assert.not.equal(newest, oldest);
});

const built: Record<string, string> = {};
for (const krel of [newest, oldest]) {
  test(`build ${krel}: vermagic, CRCs and the distribution's own nbd.ko agree`, async () => {
    const r = await buildOne(ctx, { ...base, kernelRelease: krel, force: true });
    assert.is(r.status, 'built');
    const names = r.manifest.checks.map((c) => c.name);
    assert.equal(names.sort(), ['crcs', 'oracle', 'vermagic', 'vermagic-shipped']);
    for (const c of r.manifest.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
    assert.match(r.manifest.checks.find((c) => c.name === 'oracle')!.detail, /identical/);
    assert.match(r.manifest.checks.find((c) => c.name === 'crcs')!.detail, /^\d{2,} imported symbols, all CRCs match/);
    assert.is(r.manifest.vermagic, `${krel} SMP preempt mod_unload modversions`);
    const file = store.artifactPath(r.artifact);
    assert.is(await sha256File(file), r.manifest.sha256);
    assert.ok((await fs.stat(store.artifactPath(r.artifact, r.manifest.debugFile))).size > r.manifest.size, 'debug copy is larger');
    built[krel] = r.manifest.inputs['drivers/block/nbd.c'];
    assert.is(await ourContainers(), 0, 'no container left');
  });
}

test('the two ABIs were built from different nbd.c', () => {
  assert.ok(built[newest] && built[oldest]);
  assert.is.not(built[newest], built[oldest]);
});

test('a second build of the same inputs is a cache hit', async () => {
  const t0 = Date.now();
  const r = await buildOne(ctx, { ...base, kernelRelease: newest });
  assert.is(r.status, 'cached');
  assert.ok(Date.now() - t0 < 3000, `cache hit took ${Date.now() - t0} ms`);
  assert.is((await store.list({ kernelRelease: newest })).length, 1);
});

test('a build that fails in the container leaves no container and no artifact', async () => {
  const before = JSON.stringify(await store.readIndex());
  const broken = { ...nbd, name: 'nbdx', sources: ['drivers/block/no-such-file.c'] };
  const err = await buildOne(ctx, { ...base, module: broken, kernelRelease: newest }).catch((e) => e);
  assert.instance(err, ContainerError);
  assert.match(err.message, /no-such-file\.c/);
  assert.is(await ourContainers(), 0);
  assert.is(JSON.stringify(await store.readIndex()), before);
  assert.equal((await fs.readdir(path.join(storeDir, 'debian12', newest))).filter((d) => !d.startsWith('nbd-')), []);
});

test('a build killed mid-compile leaves no container and no artifact', async () => {
  const ac = new AbortController();
  const before = JSON.stringify(await store.readIndex());
  const err = await buildOne(
    { ...ctx, signal: ac.signal },
    { ...base, kernelRelease: oldest, force: true, onStage: (s) => s === 'compile' && ac.abort(new Error('test abort')) },
  ).catch((e) => e);
  assert.instance(err, Error);
  assert.match(err.message, /abort/);
  assert.is(await ourContainers(), 0);
  assert.is(JSON.stringify(await store.readIndex()), before);
});

test('a failed check (the cached shipped nbd.ko has one .text byte flipped) fails the build precisely and stores nothing', async () => {
  const k = kernels.find((x) => x.kernelRelease === newest)!;
  const image = k.files.find((f) => f.role === 'image')!;
  const oracle = path.join(paths.cache, 'debian12', 'derived', `oracle-${image.sha256}.ko`);
  const bytes = await fs.readFile(oracle);
  const text = parseElf(bytes).section('.text')!;
  bytes[text.offset + 16] ^= 0xff;
  await fs.writeFile(oracle, bytes);
  const before = JSON.stringify(await store.readIndex());
  try {
    const err = await buildOne(ctx, { ...base, kernelRelease: newest, force: true }).catch((e) => e);
    assert.instance(err, VerificationError);
    assert.match(err.message, /failed verification; nothing stored/);
    assert.match(err.message, /oracle: .*\.text.*offset 0x10/);
    assert.equal(err.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { name: string }) => c.name), ['oracle']);
    assert.is(JSON.stringify(await store.readIndex()), before);
    assert.is(await ourContainers(), 0);
  } finally {
    // Drop the corrupted copy: the next build extracts it again from the checked linux-image deb.
    await fs.rm(oracle, { force: true });
  }
});

test('disk full mid-compile (a 1 MB scratch: the object file does not fit) fails cleanly: no container, no artifact', async () => {
  const before = JSON.stringify(await store.readIndex());
  const err = await buildOne(ctx, { ...base, kernelRelease: oldest, force: true, scratchSize: '1m' }).catch((e) => e);
  assert.instance(err, ContainerError);
  assert.match(err.message, /No space left on device/);
  assert.is(await ourContainers(), 0);
  assert.is(JSON.stringify(await store.readIndex()), before);
});

test('a corrupt cached source file is detected and fetched again', async () => {
  const k = kernels[kernels.length - 1];
  const small = k.files.find((f) => f.role === 'compiler')!;
  const file = path.join(paths.cache, 'debian12', 'debs', small.filename);
  await fs.appendFile(file, 'corruption');
  assert.is.not(await sha256File(file), small.sha256);
  const lines: string[] = [];
  await family.ensureSources({ ...ctx, log: (l) => lines.push(l) }, k);
  assert.is(await sha256File(file), small.sha256);
  assert.ok(lines.some((l) => l.includes('fails its checksum')), lines.join('\n'));
});

test.run();
