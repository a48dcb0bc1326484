/**
 * The debian12 family through the Containers door with a fake behind it (no Docker): what it asks
 * the engine for, how it caches the catalog, and how it checks what a fetch brought. The apt records
 * the fake "container" prints are the real ones recorded on 2026-11-28 (debian12-apt-records-*.txt.gz).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { createHash } from 'node:crypto';
import { createDebian12, EmptyCatalogError, SourceChecksumError } from '../../src/families/debian12/index.ts';
import { onceImages, type Containers } from '../../src/docker/containers.ts';
import type { RunSpec, RunResult } from '../../src/docker/run.ts';
import type { ImageSpec } from '../../src/docker/image.ts';
import type { FamilyContext, KernelEntry } from '../../src/families/family.ts';
import { loadElData, familyDataDir } from '../../src/families/el/catalog/index.ts';

const RECORDS = zlib.gunzipSync(fs.readFileSync(path.join(import.meta.dirname, 'debian12-apt-records-2026-11-28.txt.gz'))).toString();
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A fake door: records every call; `onRun` decides what a container does and prints. */
function fakeContainers(onRun: (spec: RunSpec) => string | Promise<string>) {
  const images: ImageSpec[] = [];
  const runs: RunSpec[] = [];
  const door: Containers = {
    async ensureImage(spec) {
      images.push(spec);
      return { tag: `${spec.repo}:fake`, id: 'sha256:fake', built: false };
    },
    async run(spec): Promise<RunResult> {
      runs.push(spec);
      return { output: await onRun(spec), files: [] };
    },
  };
  return { door, images, runs };
}

function ctxWith(door: Containers): { ctx: FamilyContext; home: string } {
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-fam-'));
  // no engine at all: anything that went around the door would throw
  const ctx: FamilyContext = { containers: door, paths: { home, cache: path.join(home, 'cache'), store: path.join(home, 'store') } };
  return { ctx, home };
}

/** The host directory bound at GUEST in a run's binds. */
const hostDirOf = (spec: RunSpec, guest: string) => spec.binds!.find((b) => b.split(':')[1] === guest)!.split(':')[0];

test('catalog: one container through the door (the builder image, catalog.sh, the apt lists bound), then cached; --refresh asks again', async () => {
  const f = fakeContainers(() => RECORDS);
  const { ctx, home } = ctxWith(f.door);
  try {
    const fam = createDebian12({});
    const first = await fam.catalog(ctx);
    assert.ok(first.kernels.length >= 30, `${first.kernels.length} kernels`);
    assert.ok(first.kernels.every((k) => k.family === 'debian12' && k.files.every((x) => /^[0-9a-f]{64}$/.test(x.sha256))));
    assert.is(f.images.length, 1);
    assert.is(f.images[0].repo, 'nbdforge/debian12-builder');
    assert.equal(f.runs[0].cmd, ['/usr/local/lib/nbdforge/catalog.sh']);
    assert.ok(f.runs[0].binds!.some((b) => b.endsWith(':/var/lib/apt/lists')));
    assert.match(f.runs[0].env!.CATALOG_PATTERNS, /linux-headers-/);
    const again = await fam.catalog(ctx);
    assert.is(f.runs.length, 1, 'served from the cache');
    assert.equal(again.kernels.map((k) => k.kernelRelease), first.kernels.map((k) => k.kernelRelease));
    await fam.catalog(ctx, { refresh: true });
    assert.is(f.runs.length, 2, '--refresh runs the container again');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('catalog: an archive that lists none of the lines is an EmptyCatalogError and writes no catalog', async () => {
  const f = fakeContainers(() => 'Package: unrelated\nVersion: 1\n\n');
  const { ctx, home } = ctxWith(f.door);
  try {
    const err = await createDebian12({}).catalog(ctx).then(() => undefined, (e) => e);
    assert.instance(err, EmptyCatalogError);
    assert.not.ok(fs.existsSync(path.join(ctx.paths.cache, 'debian12', 'catalog.json')));
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

/** A kernel entry whose files are made here, so a fake fetch can produce them (or not). */
function syntheticKernel(): { kernel: KernelEntry; content: Record<string, Buffer> } {
  const roles = ['headers-common', 'headers', 'kbuild', 'compiler', 'source', 'image'];
  const content: Record<string, Buffer> = {};
  const files = roles.map((role) => {
    const filename = `${role}_1_amd64.deb`;
    content[filename] = Buffer.from(`deb of ${role}\n`);
    return { role, name: `pkg-${role}`, version: '1', filename, sha256: sha(content[filename]), size: content[filename].length };
  });
  return { kernel: { family: 'debian12', kernelRelease: '6.1.0-99-amd64', sourceVersion: '1', files }, content };
}

test('ensureSources: fetch.sh through the door, the debs directory bound, every file checked against its sha256', async () => {
  const { kernel, content } = syntheticKernel();
  const f = fakeContainers((spec) => {
    const debs = hostDirOf(spec, '/debs');
    for (const name of Object.keys(content)) fs.writeFileSync(path.join(debs, name), content[name]);
    return 'fetched\n';
  });
  const { ctx, home } = ctxWith(f.door);
  try {
    const fam = createDebian12({});
    const got = await fam.ensureSources(ctx, kernel);
    assert.equal(Object.keys(got).sort(), kernel.files.map((x) => x.role).sort());
    for (const x of kernel.files) assert.is(sha(fs.readFileSync(got[x.role])), x.sha256);
    assert.equal(f.runs[0].cmd, ['/usr/local/lib/nbdforge/fetch.sh', ...kernel.files.map((x) => `${x.name}=${x.version}`)]);
    assert.is(f.runs[0].labels!['nbdforge.kernel'], '6.1.0-99-amd64');
    // everything present and whole: no container the second time
    await fam.ensureSources(ctx, kernel);
    assert.is(f.runs.length, 1);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('ensureSources: a fetch that brings a wrong file is a SourceChecksumError, and the bad file is gone', async () => {
  const { kernel, content } = syntheticKernel();
  const f = fakeContainers((spec) => {
    const debs = hostDirOf(spec, '/debs');
    for (const name of Object.keys(content)) fs.writeFileSync(path.join(debs, name), name.startsWith('source') ? Buffer.from('tampered') : content[name]);
    return '';
  });
  const { ctx, home } = ctxWith(f.door);
  try {
    const err = await createDebian12({}).ensureSources(ctx, kernel).then(() => undefined, (e) => e);
    assert.instance(err, SourceChecksumError);
    assert.equal((err as SourceChecksumError).files, ['source_1_amd64.deb']);
    assert.not.ok(fs.existsSync(path.join(ctx.paths.cache, 'debian12', 'debs', 'source_1_amd64.deb')), 'the bad file was removed');
    assert.ok(fs.existsSync(path.join(ctx.paths.cache, 'debian12', 'debs', 'image_1_amd64.deb')), 'the good ones stay');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('ensureSources with the module: the source package goes to EXTRACT (checked whole in the container, not kept), the derived directory is the answer', async () => {
  const { kernel: k, content } = syntheticKernel();
  const kernel = { ...k, line: '6.1', flavour: 'amd64' } as KernelEntry;
  const source = kernel.files.find((x) => x.role === 'source')!;
  const module = { name: 'nbd', description: '', kconfig: 'CONFIG_BLK_DEV_NBD', sources: ['drivers/block/nbd.c'], patchRules: [] };
  let extract = true;
  const f = fakeContainers((spec) => {
    const debs = hostDirOf(spec, '/debs');
    for (const name of Object.keys(content)) if (name !== source.filename) fs.writeFileSync(path.join(debs, name), content[name]);
    if (extract) fs.mkdirSync(path.join(hostDirOf(spec, '/derived'), `src-${source.sha256}`, 'linux-source-6.1/drivers/block'), { recursive: true });
    return '';
  });
  const { ctx, home } = ctxWith(f.door);
  try {
    const fam = createDebian12({});
    const got = await fam.ensureSources(ctx, kernel, module);
    const run = f.runs[0];
    assert.not.ok(run.cmd.includes(`${source.name}=${source.version}`), 'not downloaded into the cache');
    assert.is(run.env!.EXTRACT, `${source.name}=1 ${source.filename} ${source.sha256} ./usr/src/linux-source-6.1.tar.xz linux-source-6.1/ ${source.sha256} drivers/block/nbd.c`);
    assert.match(run.tmpfs!['/stream'], /^rw,size=\d+$/);
    assert.ok(run.binds!.some((b) => b.endsWith(':/var/cache/apt')), "apt's package cache bound");
    assert.is(got.source, path.join(ctx.paths.cache, 'debian12', 'derived', `src-${source.sha256}`));
    assert.not.ok(fs.existsSync(path.join(ctx.paths.cache, 'debian12', 'debs', source.filename)));
    // a fetch that leaves no module sources behind is an error, not a build without them
    extract = false;
    const other = { ...kernel, files: kernel.files.map((x) => (x === source ? { ...x, sha256: 'b'.repeat(64) } : x)) };
    const err = await fam.ensureSources(ctx, other, module).then(() => undefined, (e: Error) => e);
    assert.match(String(err?.message), /did not come out of it/);
    // a word that is not a plain name never reaches fetch.sh
    const odd = { ...module, sources: ['drivers/block/nbd c.c'] };
    const err2 = await fam.ensureSources(ctx, { ...other, files: other.files.map((x) => (x.role === 'source' ? { ...x, sha256: 'c'.repeat(64) } : x)) }, odd).then(() => undefined, (e: Error) => e);
    assert.match(String(err2?.message), /not a plain name/);
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('recipe: pure, the cache read-only, sign-file from the kernel\'s own kbuild package (6.1 and 6.12 lines)', async () => {
  const f = fakeContainers(() => RECORDS);
  const { ctx, home } = ctxWith(f.door);
  try {
    const fam = createDebian12({});
    const { kernels } = await fam.catalog(ctx);
    const mod = { name: 'nbd', sources: ['drivers/block/nbd.c'] } as never;
    for (const line of ['6.1.0-', '6.12.']) {
      const k = kernels.find((x) => x.kernelRelease.startsWith(line))!;
      const r = fam.recipe(ctx, k, mod, { oracle: true, patchRules: [] });
      const kbuild = k.files.find((x) => x.role === 'kbuild')!.name;
      assert.match(r.signFile, new RegExp(`/usr/lib/${kbuild.replace(/[.+]/g, '\\$&')}/scripts/sign-file$`));
      assert.ok(r.binds.some((b) => b.endsWith(':/debs:ro')));
      assert.is(r.env.KREL, k.kernelRelease);
    }
    assert.is(f.runs.length, 1, 'recipe ran nothing');
  } finally {
    fs.rmSync(home, { recursive: true, force: true });
  }
});

test('onceImages: one ensure per image for a command\'s run; a failed ensure is asked again; runs pass through', async () => {
  let calls = 0;
  let fail = true;
  const inner: Containers = {
    async ensureImage(spec) {
      calls++;
      if (spec.repo === 'flaky' && fail) {
        fail = false;
        throw new Error('engine hiccup');
      }
      return { tag: `${spec.repo}:t`, id: `id-${spec.repo}`, built: false };
    },
    run: async (spec) => ({ output: spec.cmd.join(' '), files: [] }),
  };
  const door = onceImages(inner);
  const spec = (repo: string, base = 'debian:bookworm'): ImageSpec => ({ repo, contextDir: '/x', buildArgs: {}, baseImage: base });
  const [a, b] = await Promise.all([door.ensureImage(spec('one')), door.ensureImage(spec('one'))]);
  assert.is(a.id, 'id-one');
  assert.is(b, a);
  assert.is(calls, 1);
  await door.ensureImage(spec('one', 'centos:7.9.2009'));
  assert.is(calls, 2, 'another base is another image');
  assert.not.ok(await door.ensureImage(spec('flaky')).then(() => true, () => false));
  assert.is((await door.ensureImage(spec('flaky'))).id, 'id-flaky');
  assert.is(calls, 4);
  assert.is((await door.run({ image: 'x', cmd: ['a', 'b'] } as RunSpec)).output, 'a b');
});

test('el data: el7 is releases.json; a wrong family, release, layout or package name is refused, naming the field', async () => {
  const el7 = await loadElData(familyDataDir('el7'), 'el7');
  assert.is(el7.family, 'el7');
  assert.equal(el7.layout, { binary: '{release}/{repo}/{arch}', source: '{release}/{repo}/Source' });
  assert.equal(el7.packages, { source: 'kernel', devel: 'kernel-devel', kernel: 'kernel' });
  assert.ok(el7.releases.length >= 10 && el7.releases.every((r) => el7.releasePattern.test(r.release)));
  const good = JSON.parse(fs.readFileSync(path.join(familyDataDir('el7'), 'releases.json'), 'utf8'));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-eldata-'));
  try {
    const cases: Array<[string, (j: Record<string, any>) => void, RegExp]> = [
      ['asked as el8', () => {}, /"family \(expected "el8"\)"/],
      ['a release off the pattern', (j) => j.releases.push({ release: '8.5.2111', baseKernel: 'x' }), /"releases\["8.5.2111"\]"/],
      ['an absolute layout', (j) => (j.layout.binary = '/etc/{repo}'), /"layout.binary"/],
      ['a layout climbing out', (j) => (j.layout.source = '{release}/../../x'), /"layout.source"/],
      ['an unknown placeholder', (j) => (j.layout.binary = '{release}/{host}'), /"layout.binary"/],
      ['a package name with a slash', (j) => (j.packages.devel = '../kernel-devel'), /"packages.devel"/],
      ['a kernel package name that is no token', (j) => (j.packages.kernel = 'kernel image'), /"packages.kernel"/],
      ['a bad pattern', (j) => (j.releasePattern = '(['), /"releasePattern"/],
    ];
    for (const [what, change, err] of cases) {
      const j = structuredClone(good);
      change(j);
      fs.writeFileSync(path.join(dir, 'releases.json'), JSON.stringify(j));
      const e = await loadElData(dir, what === 'asked as el8' ? 'el8' : 'el7').then(() => undefined, (x: Error) => x);
      assert.ok(e, `${what}: accepted`);
      assert.match(e!.message, err, what);
    }
    // a site's releases.json from before packages.kernel: the binary kernel package is named like the source
    const older = structuredClone(good);
    delete older.packages.kernel;
    fs.writeFileSync(path.join(dir, 'releases.json'), JSON.stringify(older));
    assert.is((await loadElData(dir, 'el7')).packages.kernel, 'kernel');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
