/**
 * Issue 12.2/12.3: buildOne executes a resolved plan through the container door, so it runs here
 * with a fake family and fake containers (no engine): the container "build" drops a real ELF module
 * (compiled by gcc with a kernel-module shape) into /out. Proven: resolve is pure and names unknown
 * kernels, the key and the cache hit, a hit is re-hashed, missing outputs and failed checks store
 * nothing, the catalog and patch rules come from the caller once.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildOne, VerificationError } from '../../src/builder/build-one.ts';
import { runMatrix } from '../../src/builder/matrix.ts';
import { resolveBuild } from '../../src/builder/resolve.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import type { Containers } from '../../src/docker/containers.ts';
import type { FamilyContext } from '../../src/families/family.ts';
import type { RunSpec } from '../../src/docker/run.ts';
import { resolvePaths } from '../../src/paths.ts';
import { K, module, kernel, fakeFamily, goodOutputs } from './build-fakes.ts';

let tmp = '';

/** A container engine that "builds" by writing the given files into the collect directory. */
function fakeContainers(files: (name: string) => Record<string, string | Uint8Array>, calls: string[]): Containers {
  return {
    async ensureImage(spec) {
      calls.push(`image ${spec.repo}`);
      return { id: 'sha256:' + 'f'.repeat(64), tag: 'fake/builder:1', built: false } as never;
    },
    async run(spec: RunSpec) {
      calls.push(`run ${spec.cmd?.join(' ')}`);
      for (const [name, data] of Object.entries(files(spec.env?.KREL ?? ''))) await fs.writeFile(path.join(spec.collect!.to, name), data);
      return { exitCode: 0 } as never;
    },
  };
}

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-build-one-'));
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

test('resolve is pure: the plan names the recipe and the outputs; an unknown kernel is a named usage error', () => {
  const calls: string[] = [];
  const ctx = { paths: resolvePaths({}, { home: tmp }) } as FamilyContext;
  const plan = resolveBuild(fakeFamily(calls), ctx, [kernel], { kernelRelease: K, module, oracle: true, patchRules: [] });
  assert.equal(plan.outputs, ['nbd.ko', 'nbd.debug.ko', 'kernel.config', 'Module.symvers', 'compiler.txt']);
  assert.equal(calls, [`recipe ${K} rules=0`]);
  try {
    resolveBuild(fakeFamily(calls), ctx, [kernel], { kernelRelease: '9.9', module, oracle: true, patchRules: [] });
    assert.unreachable();
  } catch (err) {
    assert.is((err as Error).name, 'UnknownKernelError');
    assert.is((err as { exitCode?: number }).exitCode, 2);
    assert.match((err as Error).message, '1 known (nbdforge kernels --family');
  }
});

test('build through fakes: stored and verified; the same key is a cache hit (no container); a damaged hit is rebuilt', async () => {
  const calls: string[] = [];
  const store = new DirStore(path.join(tmp, 'store'));
  const ctx = { paths: resolvePaths({}, { home: tmp }), containers: fakeContainers(goodOutputs, calls) } as FamilyContext;
  const req = { family: fakeFamily(calls), kernelRelease: K, module, store, toolVersion: 'test', catalog: [kernel], patchRules: [] };
  const first = await buildOne(ctx, req);
  assert.is(first.status, 'built');
  assert.equal(first.manifest.checks.map((c) => [c.name, c.ok]), [['vermagic', true], ['crcs', true]]);
  assert.ok(calls.includes('run build'));
  assert.not.ok(calls.includes('catalog'), 'the catalog handed in is used, not read again');
  calls.length = 0;
  const again = await buildOne(ctx, req);
  assert.is(again.status, 'cached');
  assert.is(again.key, first.key);
  assert.not.ok(calls.some((c) => c.startsWith('run')), 'a hit runs no container');
  const f = store.artifactPath(again.artifact);
  await fs.appendFile(f, 'x');
  const repaired = await buildOne(ctx, req);
  assert.is(repaired.status, 'built');
  assert.match(repaired.repaired!, /was damaged/);
  assert.ok((await store.verify(repaired.artifact)).ok);
});

test('a recipe that leaves an output out, or a module that fails its checks, stores nothing', async () => {
  const store = new DirStore(path.join(tmp, 'store-bad'));
  const calls: string[] = [];
  const noSymvers = () => {
    const o: Record<string, string | Uint8Array> = goodOutputs();
    delete o['Module.symvers'];
    return o;
  };
  const req = { family: fakeFamily(calls), kernelRelease: K, module, store, toolVersion: 'test', catalog: [kernel], patchRules: [] };
  const base = { paths: resolvePaths({}, { home: tmp }) };
  try {
    await buildOne({ ...base, containers: fakeContainers(noSymvers, calls) } as FamilyContext, req);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, VerificationError);
    assert.match((err as Error).message, 'left no Module.symvers in /out');
  }
  const wrongCrc = () => ({ ...goodOutputs(), 'Module.symvers': '0x0000beef\tmodule_layout\tvmlinux\tEXPORT_SYMBOL\t\n' });
  try {
    await buildOne({ ...base, containers: fakeContainers(wrongCrc, calls) } as FamilyContext, req);
    assert.unreachable();
  } catch (err) {
    assert.instance(err, VerificationError);
    assert.match((err as Error).message, /crcs: .*module_layout/);
  }
  assert.equal(await store.list(), []);
});


test('a matrix keeps a builder container only where a worker builds more than one kernel (one kernel: a container of its own)', async () => {
  const counts = async (kernels: string[], jobs: number) => {
    const seen = { keeps: 0, runs: 0 };
    const fail = async (): Promise<never> => {
      throw new Error('no compiler in this test');
    };
    const door: Containers = {
      ensureImage: async () => ({ id: 'sha256:' + 'f'.repeat(64), tag: 'fake/builder:1', built: false }) as never,
      run: async () => (seen.runs++, fail()),
      keep: async () => (seen.keeps++, { exec: fail, release: async () => {} }),
    };
    const family = fakeFamily([]);
    const recipe = family.recipe.bind(family);
    family.recipe = (...a) => ({ ...recipe(...a), reentrant: true });
    const ctx = { paths: resolvePaths({}, { home: tmp }), containers: door } as FamilyContext;
    const results = await runMatrix(ctx, { family, module, store: new DirStore(path.join(tmp, `matrix-${kernels.length}-${jobs}`)), toolVersion: 'test', catalog: [kernel], patchRules: [], force: true }, kernels, jobs);
    assert.equal(results.map((r) => r.status), kernels.map(() => 'failed'));
    return seen;
  };
  assert.equal(await counts([K], 2), { keeps: 0, runs: 1 }, 'one kernel: no kept builder');
  assert.equal(await counts([K, K], 2), { keeps: 0, runs: 2 }, 'one kernel a worker: none kept');
  // three kernels on one worker go through kept builders (each failed build's container is dropped, the next keeps a fresh one)
  assert.equal(await counts([K, K, K], 1), { keeps: 3, runs: 0 }, 'three kernels on one worker: kept builders');
});

test.run();
