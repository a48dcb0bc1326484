/**
 * Issue 20 item 3: the kbuild tree holds what an x86 out-of-tree build reads, not every architecture
 * headers-common ships. Against the real archive and the real builder image, in a download cache of
 * the test's own (the shared catalog and apt lists copied in; stand-ins for the nbd.c and the shipped
 * module, so only the header packages are fetched): containers/debian12/unpack-headers.sh unpacks the
 * newest kernel's header packages with arch/x86 and without the other arches or the packages' docs,
 * and a damaged package leaves no tree and no scratch directory. (That the trimmed tree builds the
 * same module as Debian's is the oracle's job in every cold build: build.test.ts, bench cold.)
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectEngine } from '../../src/docker/engine.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import { getFamily } from '../../src/families/index.ts';
import { debian12Image } from '../../src/families/debian12/index.ts';
import { derivedPaths, HEADER_ROLES } from '../../src/families/debian12/derived.ts';
import { resolvePaths } from '../../src/paths.ts';
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';

const docker = await connectEngine(process.env);
const containers = dockerContainers(docker);
const family = getFamily('debian12', process.env);
const shared = resolvePaths(process.env);
const kernels = (await family.catalog({ containers, paths: shared })).kernels;
const k = kernels[kernels.length - 1];
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-test-unpack-'));
const cache = path.join(resolvePaths({ NBDFORGE_HOME: home }).cache, 'debian12');
const out = path.join(home, 'trees');
let tag = '';

test.before(async () => {
  await fs.mkdir(out, { recursive: true });
  await fs.mkdir(path.join(cache, 'derived'), { recursive: true });
  await fs.cp(path.join(shared.cache, 'debian12', 'catalog.json'), path.join(cache, 'catalog.json'));
  await fs.cp(path.join(shared.cache, 'debian12', 'apt-lists'), path.join(cache, 'apt-lists'), { recursive: true });
  const d = derivedPaths(path.join(cache, 'derived'), k);
  await fs.mkdir(d.source, { recursive: true });
  await fs.writeFile(d.image, 'stand-in');
  await family.ensureSources({ containers, paths: resolvePaths({ NBDFORGE_HOME: home }) }, k, await loadModuleSpec('nbd'));
  tag = (await containers.ensureImage(debian12Image(process.env))).tag;
});

test.after(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

const debs = HEADER_ROLES.map((r) => `/debs/${k.files.find((f) => f.role === r)!.filename}`);
const unpack = (dest: string, files: string[]) =>
  containers.run({ image: tag, cmd: ['/usr/local/lib/nbdforge/unpack-headers.sh', `/out/${dest}`, ...files], binds: [`${path.join(cache, 'debs')}:/debs:ro`, `${out}:/out`], labels: { 'nbdforge.role': 'test' } });
const has = (p: string) => fs.access(p).then(() => true, () => false);

test(`${k.kernelRelease}: the kbuild tree has x86's headers, the kbuild scripts and Module.symvers; no other arch, no docs`, async () => {
  await unpack('tree', debs);
  const tree = path.join(out, 'tree');
  const src = await fs.readdir(path.join(tree, 'usr/src'));
  const common = src.find((s) => /-common(-rt)?$/.test(s))!;
  assert.ok(common, src.join(' '));
  assert.ok(await has(path.join(tree, 'usr/src', `linux-headers-${k.kernelRelease}`, 'Module.symvers')));
  assert.ok(await has(path.join(tree, 'usr/src', common, 'arch/x86/Makefile')));
  assert.equal(await fs.readdir(path.join(tree, 'usr/src', common, 'arch')), ['x86'], 'only x86 under arch/');
  assert.ok((await fs.readdir(path.join(tree, 'usr/src', common, 'include/linux'))).includes('blkdev.h'));
  assert.ok(await has(path.join(tree, 'usr/lib', (await fs.readdir(path.join(tree, 'usr/lib'))).find((s) => s.startsWith('linux-kbuild-'))!, 'scripts/sign-file')));
  assert.not.ok(await has(path.join(tree, 'usr/share/doc')), 'no docs');
});

test('a damaged header package: exit 4, no tree, no scratch directory', async () => {
  const bad = path.join(cache, 'debs', 'damaged.deb');
  const whole = await fs.readFile(path.join(cache, 'debs', path.basename(debs[0])));
  await fs.writeFile(bad, whole.subarray(0, Math.floor(whole.length / 2)));
  const err = await unpack('bad', [debs[2], '/debs/damaged.deb']).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ContainerError);
  assert.is((err as ContainerError).status, 4);
  assert.equal((await fs.readdir(out)).sort(), ['tree'], 'no tree, no .tmp-kbuild-*');
});

test.run();
