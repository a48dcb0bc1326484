#!/usr/bin/env tsx
/**
 * What a builder container costs a single forced build (issue 20 item 2), in one run, alternating, through
 * the engine API nbdforge uses, with the debian12 builder image of the newest 6.1 amd64 kernel:
 *   per build  create + start + wait + remove of a container running `true` (network none): a container per build
 *   kept once  keepContainer + one exec + release: what `build --force` of one kernel pays with a kept builder
 *   exec       one exec in a container already running (the engine's own floor for a build's container)
 *   reused     the builder kept between invocations, as `build --force` now reuses it: found by name, checked
 *              by inspect (docker/shared.ts), then one exec
 * Writes the section between the bench:container markers of docs/BENCHMARKS.md.
 * Usage: npm run bench -- container [--runs 9] [--no-write]
 */
import os from 'node:os';
import { writeBenchSection } from './bench-doc.ts';
import { connectEngine, closeEngine } from '../src/docker/engine.ts';
import { dockerContainers, onceImages } from '../src/docker/containers.ts';
import { keepContainer } from '../src/docker/kept.ts';
import { sharedContainer } from '../src/docker/shared.ts';
import { getFamily } from '../src/families/index.ts';
import { resolvePaths } from '../src/paths.ts';
import { loadModuleSpec } from '../src/module-spec/module-spec.ts';
import { loadPatchRules } from '../src/module-spec/patches.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';
import { opt, median } from './bench-options.ts';

const runs = Number(opt('runs') ?? 9);
if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs takes a whole number');
const engine = await connectEngine(process.env);
const ctx = { containers: onceImages(dockerContainers(engine)), paths: resolvePaths(process.env) };
const family = getFamily('debian12', process.env);
const kernel = ((await family.catalog(ctx)).kernels as Debian12Kernel[]).filter((k) => k.line === '6.1' && k.flavour === 'amd64').at(-1)!;
const module = await loadModuleSpec('nbd');
const built = await ctx.containers.ensureImage(family.recipe(ctx, kernel, module, { oracle: true, patchRules: loadPatchRules(module) }).image);
const image = built.tag;
const sharedSpec = { image, imageId: built.id, binds: [], tmpfs: {}, labels: { 'nbdforge.role': 'bench' }, idleSeconds: 30, resultsGlob: '/nonexistent-*' };
const labels = { 'nbdforge.role': 'bench' };
const secs = async (f: () => Promise<unknown>) => {
  const t0 = performance.now();
  await f();
  return (performance.now() - t0) / 1000;
};
const perBuild = async () => {
  const c = await engine.createContainer({ Image: image, Cmd: ['true'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
  try {
    await c.start();
    await c.wait();
  } finally {
    await c.remove({ force: true });
  }
};
const keptOnce = async () => {
  const k = await keepContainer(engine, { image, network: 'none', labels });
  try {
    await k.exec({ cmd: ['true'] });
  } finally {
    await k.release();
  }
};
const loadBefore = os.loadavg()[0].toFixed(2);
const running = await keepContainer(engine, { image, network: 'none', labels });
const first = await sharedContainer(engine, sharedSpec); // made here, reused by every timed run
const t = { perBuild: [] as number[], keptOnce: [] as number[], exec: [] as number[], reused: [] as number[] };
try {
  for (let i = 0; i < runs; i++) {
    t.perBuild.push(await secs(perBuild));
    t.keptOnce.push(await secs(keptOnce));
    t.exec.push(await secs(() => running.exec({ cmd: ['true'] })));
    t.reused.push(await secs(async () => (await sharedContainer(engine, sharedSpec)).exec({ cmd: ['true'] })));
  }
} finally {
  await running.release();
  await first.kill();
  closeEngine(engine);
}
const raw = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
const m = { perBuild: median(t.perBuild), keptOnce: median(t.keptOnce), exec: median(t.exec), reused: median(t.reused) };
const section = `<!-- bench:container -->
## A builder container's own cost for one build

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores, load average before the run ${loadBefore}.
Command: \`npm run bench -- container --runs ${runs}\` (scripts/bench-container.ts). Image: the debian12 builder of ${kernel.kernelRelease};
each case runs \`true\` (network none) through the engine API nbdforge uses; the four alternate; medians of ${runs}.

| What | Time | Ratio |
|---|---|---|
| A container per build: create + start + wait + remove | ${m.perBuild.toFixed(2)} s | baseline |
| A kept builder used once (a matrix worker's, for one kernel): create + start + exec + remove | ${m.keptOnce.toFixed(2)} s | ${(m.keptOnce / m.perBuild).toFixed(2)}x |
| One exec in a builder already running | ${m.exec.toFixed(2)} s | ${(m.exec / m.perBuild).toFixed(2)}x |
| The builder kept between invocations, reused (what \`build --force\` pays now): inspect by name + exec | ${m.reused.toFixed(2)} s | ${(m.reused / m.perBuild).toFixed(2)}x |

Raw (s): per build ${raw(t.perBuild)}; kept once ${raw(t.keptOnce)}; exec ${raw(t.exec)}; reused ${raw(t.reused)}.
<!-- /bench:container -->`;
console.log(section);
if (!process.argv.includes('--no-write')) await writeBenchSection('container', section, 'prepare-host');
