#!/usr/bin/env tsx
/**
 * One cold kernel, stage by stage, A/B in one run (issue 20 item 3): `nbdforge build --kernel K`
 * with an empty download cache of its own (bench-cold-home.ts), once with the CLI of a checkout from
 * before (--base DIR) and once with this one, alternating, --runs times each. A stage's time is from
 * its progress line to the next one's (the build's own clock); medians per stage.
 * Usage: npm run bench -- cold-stages --base DIR [--kernel K] [--runs N] [--no-write]
 */
import { $, fs, os, path } from 'zx';
import { writeBenchSection } from './bench-doc.ts';
import { median, opt } from './bench-options.ts';
import { sharedDebian12, withColdHome } from './bench-cold-home.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';

$.verbose = false;
const base = opt('base');
if (!base || !(await fs.pathExists(path.join(base, 'bin/nbdforge.js')))) {
  console.error('usage: npm run bench -- cold-stages --base DIR [--kernel K] [--runs N] [--no-write]   (DIR: a checkout of the commit to compare with, built)');
  process.exit(2);
}
const catalog = JSON.parse(await fs.readFile(path.join(sharedDebian12(), 'catalog.json'), 'utf8')) as { kernels: Debian12Kernel[] };
const kernel = opt('kernel') ?? catalog.kernels[catalog.kernels.length - 1].kernelRelease;
const runs = Number(opt('runs') ?? 3);
const log = (s: string) => console.error(`[bench] ${s}`);

/** One cold build: each stage's seconds, and the whole (wall, from the CLI's start). */
async function once(root: string): Promise<Record<string, number>> {
  return withColdHome(async (home) => {
    const t0 = performance.now();
    const r = await $({ env: { ...process.env, NBDFORGE_HOME: home } })`node ${path.join(root, 'bin/nbdforge.js')} build --kernel ${kernel} --json`.nothrow();
    const wall = (performance.now() - t0) / 1000;
    if (r.exitCode !== 0) throw new Error(`build ${kernel} failed: ${r.stderr.slice(-400)}`);
    // progress lines: "[0/1] KERNEL  STAGE  12.3s", the stage's start on the build's clock
    const marks = [...r.stderr.matchAll(/^\[\d+\/\d+\] \S+\s+(\S+)\s+([\d.]+)s$/gm)].map((m) => [m[1], Number(m[2])] as const);
    const out: Record<string, number> = { wall };
    for (let i = 0; i + 1 < marks.length; i++) out[marks[i][0]] = (out[marks[i][0]] ?? 0) + marks[i + 1][1] - marks[i][1];
    return out;
  });
}

await $`sync`;
const loadBefore = os.loadavg()[0].toFixed(2);
const sides = { before: [] as Record<string, number>[], after: [] as Record<string, number>[] };
for (let i = 0; i < runs; i++) {
  for (const [name, root] of [['before', path.resolve(base)], ['after', path.resolve('.')]] as const) {
    const r = await once(root);
    sides[name].push(r);
    log(`${name} ${i + 1}/${runs} (load ${os.loadavg()[0].toFixed(2)}): ${Object.entries(r).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}`);
  }
}
const stages = [...new Set([...sides.before, ...sides.after].flatMap((r) => Object.keys(r)))].filter((s) => s !== 'wall');
const med = (name: 'before' | 'after', s: string) => median(sides[name].map((r) => r[s] ?? 0));
const row = (label: string, s: string) => `| ${label} | ${med('before', s).toFixed(1)} s | ${med('after', s).toFixed(1)} s |`;
const section = `<!-- bench:cold-stages -->
#### One cold kernel, stage by stage

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores, load average before the run ${loadBefore} (after: ${os.loadavg()[0].toFixed(2)}).
Command: \`npm run bench -- cold-stages --base DIR --runs ${runs}\` (scripts/bench-cold-stages.ts): \`nbdforge build --kernel ${kernel}\` with an empty
download cache of its own, before and after alternating, medians of ${runs}; a stage runs from its progress line to the next.

| Stage | before | after |
|---|---|---|
${stages.map((s) => row(s, s)).join('\n')}
| **whole build (wall, CLI start to exit)** | **${med('before', 'wall').toFixed(1)} s** | **${med('after', 'wall').toFixed(1)} s** (${(med('after', 'wall') / med('before', 'wall')).toFixed(2)}x) |

Raw walls: before ${sides.before.map((r) => r.wall.toFixed(1)).join(', ')}; after ${sides.after.map((r) => r.wall.toFixed(1)).join(', ')}.
<!-- /bench:cold-stages -->`;
console.log(section);
if (!process.argv.includes('--no-write')) await writeBenchSection('cold-stages', section, 'map-el7');
