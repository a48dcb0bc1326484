/**
 * Issue 19 item 7: commands that need no container run without an engine (DOCKER_HOST names a
 * socket that does not exist): `kernels` from a cached catalog, `cleanup` of build scratch, a build
 * whose artifact is stored (its key from the builder image id recorded when the image was last
 * ensured), and the engine error, where one is needed, names DOCKER_HOST. Through the real CLI binary.
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
import { getFamily } from '../../src/families/index.ts';
import { resolveBuild } from '../../src/builder/resolve.ts';
import { buildKey } from '../../src/builder/key.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { loadPatchRules, patchRuleHashes } from '../../src/module-spec/patches.ts';
import { localSpecKey, recordedImages } from '../../src/docker/image-record.ts';
import { EngineUnreachableError } from '../../src/docker/errors.ts';
import { debian12Image } from '../../src/families/debian12/index.ts';
import type { Containers } from '../../src/docker/containers.ts';
import type { KernelEntry } from '../../src/families/family.ts';

const bin = path.resolve('bin/nbdforge.js');
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const NO_ENGINE = 'unix:///nonexistent.sock';

let tmp = '';
let home = '';
const run = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(bin, args, { encoding: 'utf8', env: { ...process.env, NBDFORGE_HOME: home, DOCKER_HOST: NO_ENGINE, ...env } });

const ROLES = ['headers-common', 'headers', 'kbuild', 'compiler', 'source', 'image'];
function debKernel(abi: number): KernelEntry & { line: string; flavour: string } {
  const files = ROLES.map((role) => {
    const name = role === 'kbuild' || role === 'compiler' ? `linux-${role}-6.1` : `linux-${role}-6.1.0-${abi}`;
    return { role, name, version: `6.1.${100 + abi}-1`, filename: `${name}_6.1.${100 + abi}-1_amd64.deb`, sha256: sha(`${name} ${abi}`), size: 1000 };
  });
  return { family: 'debian12', kernelRelease: `6.1.0-${abi}-amd64`, sourceVersion: `6.1.${100 + abi}-1`, line: '6.1', flavour: 'amd64', files };
}
const kernels = [debKernel(56), debKernel(57)];

async function writeCatalog(ageHours: number): Promise<void> {
  const file = path.join(home, 'cache', 'debian12', 'catalog.json');
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, JSON.stringify({ fetchedAt: new Date(Date.now() - ageHours * 3600_000).toISOString(), kernels, skipped: [], linesSha256: loadLines().sha256 }));
}

async function freshHome(): Promise<void> {
  home = await fs.mkdtemp(path.join(tmp, 'home-'));
}

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-no-engine-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('kernels: a fresh cached catalog is listed with no engine; an expired one is used with a note; none at all names DOCKER_HOST', async () => {
  await freshHome();
  await writeCatalog(1);
  const r = run(['kernels']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^family debian12, catalog read /);
  assert.match(r.stdout, /6\.1\.0-56-amd64 +6\.1\.156-1 +- +- +-\n6\.1\.0-57-amd64 +6\.1\.157-1 +- +- +-\n0 of 2 in the store /);
  assert.is(r.stderr, '');
  // issue 19.6: which kernels the store already has
  await putModule(path.join(home, 'store'), '6.1.0-57-amd64');
  const marked = run(['kernels']);
  // issue 18.4: built / verified / proven per kernel
  assert.match(marked.stdout, /KERNEL +SOURCE VERSION +BUILT +VERIFIED +PROVEN\n/);
  assert.match(marked.stdout, /6\.1\.0-56-amd64 +6\.1\.156-1 +- +- +-\n6\.1\.0-57-amd64 +6\.1\.157-1 +built +verified +-\n1 of 2 in the store \S+ \(1 verified, 0 proven\)\n/);
  const listed = JSON.parse(run(['kernels', '--json']).stdout).kernels as Array<{ stored: boolean; built: boolean; verified: boolean; proven: boolean }>;
  assert.equal(listed.map((k) => [k.stored, k.built, k.verified, k.proven]), [[false, false, false, false], [true, true, true, false]]);

  await writeCatalog(48);
  const old = run(['kernels', '--json']);
  assert.is(old.status, 0, old.stderr);
  assert.is(JSON.parse(old.stdout).kernels.length, 2);
  assert.match(old.stderr, /refresh failed \(Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\).*\); using the catalog read/);

  const refresh = run(['kernels', '--refresh']);
  assert.is(refresh.status, 1);
  assert.match(refresh.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\)/);
  assert.match(refresh.stderr, /point DOCKER_HOST at a running engine/);

  await freshHome();
  const none = run(['kernels']);
  assert.is(none.status, 1);
  assert.match(none.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\)/);
});

test('build: a stored build is answered with no engine from the recorded builder image id; a miss needs the engine', async () => {
  await freshHome();
  await writeCatalog(1);
  const env = { ...process.env, NBDFORGE_HOME: home };
  const family = getFamily('debian12', env);
  const paths = { home, cache: path.join(home, 'cache'), store: path.join(home, 'store') };
  const module = await loadModuleSpec('nbd');
  const imageId = `sha256:${sha('the builder image')}`;
  // the record a run with an engine leaves (src/docker/image-record.ts)
  const ctx = { paths };
  const keyOf = (k: KernelEntry) => {
    const plan = resolveBuild(family, ctx, kernels, { kernelRelease: k.kernelRelease, module, oracle: true, patchRules: loadPatchRules(module) });
    return {
      key: buildKey({ kernel: plan.kernel, module, patches: patchRuleHashes(plan.patchRules), builderImageId: imageId, env: plan.recipe.env, oracle: plan.recipe.oracle }),
      spec: plan.recipe.image,
    };
  };
  const k56 = keyOf(kernels[0]);
  await putModule(paths.store, '6.1.0-56-amd64', { key: k56.key });

  // no record yet: the key cannot be known, so nothing is guessed
  const before = run(['build', '--kernel', '6.1.0-56-amd64']);
  assert.is(before.status, 1, before.stdout);
  assert.match(before.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\)/);

  await fs.writeFile(path.join(paths.cache, 'builder-images.json'), JSON.stringify({ [await localSpecKey(k56.spec)]: { tag: 'nbdforge/debian12-builder:0123456789abcdef', id: imageId, recordedAt: '2026-12-01T00:00:00.000Z' } }));
  const r = run(['build', '--kernel', '6.1.0-56-amd64', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.kernels[0].status, 'cached');
  assert.is(j.kernels[0].key, k56.key);
  assert.match(r.stderr, /engine unreachable: using the builder image nbdforge\/debian12-builder:0123456789abcdef .* recorded 2026-12-01/);

  // 57 is not stored: building it needs the engine, and says so
  const miss = run(['build', '--kernel', '6.1.0-57-amd64']);
  assert.is(miss.status, 1);
  assert.match(miss.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\)/);
  assert.equal((JSON.parse(await fs.readFile(path.join(paths.store, 'index.json'), 'utf8')).artifacts as Array<{ kernelRelease: string }>).map((a) => a.kernelRelease), ['6.1.0-56-amd64']);
});

async function rejects(p: Promise<unknown>, re: RegExp): Promise<void> {
  const err = await p.then(() => undefined, (e: Error) => e);
  assert.ok(err, `expected a rejection matching ${re}`);
  assert.match(err.message, re);
}

test('the builder image record: written when an image is ensured, read only when the engine is unreachable, keyed by the base image name too', async () => {
  const file = path.join(tmp, 'record', 'builder-images.json');
  let up = true;
  const id = `sha256:${sha('img')}`;
  const inner: Containers = {
    ensureImage: async (spec) => {
      if (!up) throw new EngineUnreachableError('Docker engine unreachable at unix:///nonexistent.sock (DOCKER_HOST)');
      return { tag: `${spec.repo}:abc`, id, built: false };
    },
    run: async () => {
      throw new EngineUnreachableError('no engine');
    },
  };
  const logs: string[] = [];
  const door = recordedImages(inner, file, (l) => logs.push(l));
  const spec = debian12Image({});
  assert.is((await door.ensureImage(spec)).id, id);
  const rec = JSON.parse(await fs.readFile(file, 'utf8'));
  assert.equal(Object.values(rec).map((r) => (r as { id: string }).id), [id]);
  assert.equal(Object.keys(rec), [await localSpecKey(spec)]);
  up = false;
  const got = await door.ensureImage(spec);
  assert.is(got.id, id);
  assert.is(got.recorded, true);
  assert.match(logs.join('\n'), /engine unreachable: using the builder image nbdforge\/debian12-builder:abc/);
  // another base image name is another record: none, so the engine's error stands
  await rejects(door.ensureImage({ ...spec, baseImage: 'debian:trixie' }), /Docker engine unreachable/);
  // other errors are never answered from the record
  const broken = recordedImages({ ...inner, ensureImage: async () => { throw new Error('base image debian:bookworm is missing'); } }, file);
  await rejects(broken.ensureImage(spec), /is missing/);
});

test('cleanup: with no engine, build scratch of dead runs is removed and it says containers were not checked (exit 0)', async () => {
  const tmpdir = await fs.mkdtemp(path.join(tmp, 'tmpdir-'));
  // a pid that has ended: a child that ran and exited
  const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout;
  const scratch = path.join(tmpdir, 'nbdforge-6.1.0-56-amd64-Ab12Cd');
  await fs.mkdir(scratch);
  await fs.writeFile(path.join(scratch, '.nbdforge-owner'), `nbdforge ${dead} ?\n`);
  await fs.writeFile(path.join(scratch, 'nbd.ko'), 'x');
  const live = path.join(tmpdir, 'nbdforge-6.1.0-57-amd64-Ef34Gh');
  await fs.mkdir(live);
  await fs.writeFile(path.join(live, '.nbdforge-owner'), `nbdforge ${process.pid} ?\n`);

  const r = run(['cleanup'], { TMPDIR: tmpdir });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`removed ${scratch} \\(build scratch, owner pid ${dead} gone\\)`));
  assert.match(r.stderr, /containers were not checked: Docker engine unreachable at unix:\/\/\/nonexistent\.sock \(DOCKER_HOST\).*Run nbdforge cleanup again once the engine runs/);
  assert.not.ok(await fs.stat(scratch).catch(() => undefined));
  assert.ok(await fs.stat(live));

  const j = run(['cleanup', '--json'], { TMPDIR: tmpdir });
  assert.is(j.status, 0, j.stderr);
  const out = JSON.parse(j.stdout);
  assert.is(out.containersChecked, false);
  assert.equal(out.scratch, []);
  assert.match(out.containersNotChecked, /DOCKER_HOST/);
});

test.run();
