/**
 * Every line and flavour of kernels/debian12/lines.json against the real archive and a real Docker
 * engine: the catalog offers each group, and the newest kernel of each group is built by the real
 * pipeline and matches the distribution's own nbd.ko (6.12 ships it as nbd.ko.xz). An rt kernel's
 * module carries its own vermagic (preempt_rt), read from the built and the shipped ELF files.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { connectEngine } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { getFamily } from '../../src/families/index.ts';
import { resolvePaths } from '../../src/paths.ts';
import { buildOne } from '../../src/build/build-one.ts';
import { loadModuleSpec } from '../../src/build/module-spec.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { parseElf } from '../../src/verify/index.ts';
import { vermagicOf } from '../../src/verify/modinfo.ts';
import { loadLines } from '../../src/families/debian12/lines.ts';
import type { Debian12Kernel } from '../../src/families/debian12/catalog.ts';

const storeDir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-test-lines-'));
const paths = resolvePaths(process.env, { store: storeDir });
const docker = await connectEngine(process.env);
const family = getFamily('debian12', process.env);
const ctx = { containers: dockerContainers(docker), paths };
const store = new DirStore(storeDir);
const nbd = await loadModuleSpec('nbd');
const kernels = (await family.catalog(ctx)).kernels as Debian12Kernel[];
const lines = loadLines().lines;

test.after(async () => {
  await fs.rm(storeDir, { recursive: true, force: true });
});

/** The newest kernel of each line and flavour, in lines.json order. */
const newest: Debian12Kernel[] = [];
for (const l of lines)
  for (const f of l.flavours) {
    const group = kernels.filter((k) => k.line === l.line && k.flavour === f.flavour);
    if (group.length) newest.push(group[group.length - 1]);
  }

test(`the archive offers every line and flavour (${kernels.length} kernels)`, () => {
  const want = lines.flatMap((l) => l.flavours.map((f) => `${l.line}/${f.flavour}`));
  assert.equal(newest.map((k) => `${k.line}/${k.flavour}`), want);
  assert.ok(want.includes('6.12/rt-amd64') && want.includes('6.1/cloud-amd64'), want.join(' '));
  for (const k of kernels.filter((x) => x.line === '6.12')) {
    const abi = k.kernelRelease.slice(0, -(k.flavour.length + 1));
    const kbuild = k.files.find((f) => f.role === 'kbuild')!;
    assert.is(kbuild.name, `linux-kbuild-${abi}`, 'one kbuild package per 6.12 version');
    assert.is(kbuild.version, k.sourceVersion);
  }
  // The stock kernel is listed last: `matrix --latest 1` and the quickstart build it.
  assert.match(kernels[kernels.length - 1].kernelRelease, /^6\.1\.0-\d+-amd64$/);
});

test('6.12 images ship nbd as nbd.ko.xz (read from the real package)', async () => {
  const k = newest.find((x) => x.line === '6.12' && x.flavour === 'amd64')!;
  const files = await family.ensureSources(ctx, k);
  const image = files.image ?? path.join(paths.cache, 'debian12', 'debs', k.files.find((f) => f.role === 'image')!.filename);
  const list = execFileSync('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -t', 'sh', image], { maxBuffer: 64 << 20 }).toString();
  assert.ok(list.includes(`./lib/modules/${k.kernelRelease}/kernel/drivers/block/nbd.ko.xz\n`), 'nbd.ko.xz in the image');
  assert.not.ok(list.includes('/drivers/block/nbd.ko\n'), 'no uncompressed nbd.ko');
});

const vermagics: Record<string, { built: string; shipped: string }> = {};
for (const k of newest) {
  test(`build ${k.kernelRelease} (${k.line}, ${k.flavour}): vermagic, CRCs and the shipped module agree`, async () => {
    const r = await buildOne(ctx, { family, module: nbd, store, toolVersion: 'test', kernelRelease: k.kernelRelease, force: true });
    assert.is(r.status, 'built');
    for (const c of r.manifest.checks) assert.ok(c.ok, `${c.name}: ${c.detail}`);
    assert.equal(r.manifest.checks.map((c) => c.name).sort(), ['crcs', 'oracle', 'vermagic', 'vermagic-shipped']);
    assert.match(r.manifest.checks.find((c) => c.name === 'oracle')!.detail, /identical/);
    const built = vermagicOf(parseElf(await fs.readFile(store.artifactPath(r.artifact)))).trim();
    const shipped = /vermagic "([^"]*)"/.exec(r.manifest.checks.find((c) => c.name === 'vermagic-shipped')!.detail)![1].trim();
    vermagics[k.kernelRelease] = { built, shipped };
    assert.is(built, shipped);
    assert.ok(built.startsWith(`${k.kernelRelease} SMP `), built);
  });
}

test('rt kernels: their own release in vermagic, and 6.1 rt its own preempt_rt word', () => {
  const rt = newest.filter((k) => k.flavour === 'rt-amd64');
  assert.is(rt.length, lines.length);
  for (const k of newest) {
    const v = vermagics[k.kernelRelease]?.built;
    assert.ok(v, `${k.kernelRelease} was built`);
    // 6.1's RT patch set leaves PREEMPT_BUILD unset: vermagic.h then says preempt_rt. 6.12's in-tree RT
    // selects PREEMPT_BUILD, which vermagic.h tests first: "preempt", told apart by the -rt-amd64 release.
    const word = k.flavour === 'rt-amd64' && k.line === '6.1' ? 'preempt_rt' : 'preempt';
    assert.is(v, `${k.kernelRelease} SMP ${word} mod_unload modversions`);
    if (k.flavour === 'rt-amd64') assert.ok(v.startsWith(`${k.kernelRelease} `) && k.kernelRelease.endsWith('-rt-amd64'));
  }
  // a module for one flavour is refused by the other: the release words differ
  const [a, b] = [newest.find((k) => k.line === '6.12' && k.flavour === 'rt-amd64')!, newest.find((k) => k.line === '6.12' && k.flavour === 'amd64')!];
  assert.is.not(vermagics[a.kernelRelease].built, vermagics[b.kernelRelease].built);
});

test.run();
