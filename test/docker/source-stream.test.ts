/**
 * Issue 20: with the module known, the debian12 fetch keeps of linux-source only the module's sources.
 * Against the real archive and a real Docker engine, in a download cache of the test's own (the
 * shared catalog and apt lists copied in; the kernel's other derived products stand in, so only the
 * source package is fetched): the package is checked whole against the catalog's sha256 before
 * anything comes out of it (a wrong sha256 extracts nothing), nbd.c comes out byte-identical to the
 * copy streamed out of a kept package, and the package itself is not kept. Two kernels of one source
 * version (two flavours of one ABI) fetched at once share one stream: one download, one product.
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
import { loadModuleSpec } from '../../src/module-spec/module-spec.ts';
import { SourceChecksumError } from '../../src/families/debian12/index.ts';
import { derivedPaths } from '../../src/families/debian12/derived.ts';
import { sha256File } from '../../src/util/hash.ts';
import type { Debian12Kernel } from '../../src/families/debian12/catalog.ts';

const docker = await connectEngine(process.env);
const family = getFamily('debian12', process.env);
const shared = resolvePaths(process.env);
const nbd = await loadModuleSpec('nbd');
const kernels = (await family.catalog({ containers: dockerContainers(docker), paths: shared })).kernels as Debian12Kernel[];
// the stock kernel (listed last): its nbd.c is also what build.test.ts streams out of a kept package
const k = kernels[kernels.length - 1];
const source = k.files.find((f) => f.role === 'source')!;
const sibling = kernels.find((x) => x !== k && x.files.find((f) => f.role === 'source')!.sha256 === source.sha256)!;
const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-test-stream-'));
const paths = resolvePaths({ NBDFORGE_HOME: home });
const logged: string[] = [];
const ctx = { containers: dockerContainers(docker), paths, log: (s: string) => logged.push(s) };
const cache = path.join(paths.cache, 'debian12');

test.before(async () => {
  await fs.mkdir(path.join(cache, 'derived'), { recursive: true });
  await fs.cp(path.join(shared.cache, 'debian12', 'catalog.json'), path.join(cache, 'catalog.json'));
  await fs.cp(path.join(shared.cache, 'debian12', 'apt-lists'), path.join(cache, 'apt-lists'), { recursive: true });
  // stand-ins for the kbuild tree and the shipped module: this test fetches the source package alone
  for (const kernel of [k, sibling]) {
    const d = derivedPaths(path.join(cache, 'derived'), kernel);
    await fs.mkdir(d.kbuild, { recursive: true });
    await fs.writeFile(d.image, 'stand-in');
  }
});

test.after(async () => {
  await fs.rm(home, { recursive: true, force: true });
});

const ours = async () => (await docker.listContainers({ all: true, filters: { label: [LABEL, `${LABEL}.pid=${process.pid}`] } })).length;

// A package whose sha256 the catalog gets wrong: the small kbuild package in the source's place keeps the download short.
const small = k.files.find((f) => f.role === 'kbuild')!;
test(`a source package that does not match the catalog's sha256 (${small.filename}): fetched, refused, nothing extracted, nothing kept`, async () => {
  const wrong = { ...k, files: k.files.map((f) => (f === source ? { ...small, role: 'source', sha256: '0'.repeat(64) } : f)) };
  const err = await family.ensureSources(ctx, wrong, nbd).then(() => undefined, (e: unknown) => e);
  assert.instance(err, SourceChecksumError);
  assert.match((err as Error).message, small.filename);
  assert.not.ok(await fs.stat(derivedPaths(path.join(cache, 'derived'), wrong).source).catch(() => undefined), 'no derived sources');
  // (the compiler package, which no derived product stands in for, is fetched and kept as usual)
  assert.equal((await fs.readdir(path.join(cache, 'debs'))).filter((f) => f === small.filename || f.startsWith('linux-source')), [], 'the refused package is not kept');
  assert.is(await ours(), 0, 'no container left');
});

test(`${source.filename}: checked whole, nbd.c streamed out, the package not kept; ${k.kernelRelease} and ${sibling.kernelRelease} at once share one stream`, async () => {
  logged.length = 0;
  const [got, other] = await Promise.all([family.ensureSources(ctx, k, nbd), family.ensureSources(ctx, sibling, nbd)]);
  const dir = derivedPaths(path.join(cache, 'derived'), k).source;
  assert.is(got.source, dir);
  assert.is(other.source, dir, 'one product for both kernels');
  assert.is(logged.filter((l) => l.includes(`${source.name}: checked whole`)).length, 1, `one stream of ${source.name}: ${logged.join(' | ')}`);
  const prefix = k.line === '6.12' ? 'linux-source-6.12/' : 'linux-source-6.1/';
  const file = path.join(dir, prefix, 'drivers/block/nbd.c');
  const text = await fs.readFile(file, 'utf8');
  assert.match(text, /MODULE_DESCRIPTION\("Network Block Device"\)/);
  assert.equal((await fs.readdir(path.join(cache, 'debs'))).filter((f) => f.startsWith('linux-source')), [], 'the source package is not kept');
  // The same member streamed out of a kept, checked package elsewhere (build.test.ts, bench runs) is the reference.
  const reference = path.join(shared.cache, 'debian12', 'derived', `src-${source.sha256}`, prefix, 'drivers/block/nbd.c');
  if (await fs.stat(reference).catch(() => undefined)) assert.is(await sha256File(file), await sha256File(reference));
  assert.is(await ours(), 0, 'no container left');
  // a second call finds it in place: no container, no download
  const t0 = Date.now();
  await family.ensureSources(ctx, k, nbd);
  assert.ok(Date.now() - t0 < 2000);
});

test.run();
