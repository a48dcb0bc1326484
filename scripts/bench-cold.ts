#!/usr/bin/env tsx
/**
 * The cold matrix, A/B in one run on the same mirror (issue 20 item 3): the same matrix with an empty
 * download cache (its own NBDFORGE_HOME each, the shared cache is never touched), once with the CLI of
 * a checkout from before (--base DIR: the source package downloaded and kept) and once with this one
 * (the source package checked whole, nbd.c streamed out, the package left behind; apt's package cache kept;
 * the kbuild tree x86 only).
 * Both get the shared catalog and apt lists copied in, so both fetch exactly the same packages.
 * Bytes: what each side downloaded, from the catalog's sizes of the distinct packages it fetched
 * (every package of the selected kernels, on both sides), and what its cache holds afterwards (du).
 * Usage: npm run bench -- cold --base DIR [--latest N] [--no-write]
 *   DIR: e.g. `git worktree add /tmp/nbdforge-base <commit> && ln -s $PWD/node_modules /tmp/nbdforge-base/ && (cd /tmp/nbdforge-base && npm run build)`
 */
import { $, fs, os, path } from 'zx';
import { writeBenchSection } from './bench-doc.ts';
import { sharedDebian12, withColdHome } from './bench-cold-home.ts';
import type { Debian12Kernel } from '../src/families/debian12/catalog.ts';
import { opt } from './bench-options.ts';

$.verbose = false;
const args = process.argv.slice(2);
const base = opt('base');
if (!base || !(await fs.pathExists(path.join(base, 'bin/nbdforge.js')))) {
  console.error('usage: npm run bench -- cold --base DIR [--latest N] [--no-write]   (DIR: a checkout of the commit to compare with, built)');
  process.exit(2);
}
const latest = opt('latest');
const shared = sharedDebian12();
const catalog = JSON.parse(await fs.readFile(path.join(shared, 'catalog.json'), 'utf8')) as { kernels: Debian12Kernel[] };
const kernels = latest ? catalog.kernels.slice(-Number(latest)) : catalog.kernels;
const log = (s: string) => console.error(`[bench] ${s}`);
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;
const files = new Map(kernels.flatMap((k) => k.files.map((f) => [f.filename, f] as const)));
const downloaded = [...files.values()].reduce((n, f) => n + f.size, 0);
const sources = [...files.values()].filter((f) => f.role === 'source').reduce((n, f) => n + f.size, 0);

interface Side { name: string; load: string; s: number; built: number; failed: number; cacheBytes: number; debsBytes: number; du: string }
async function side(name: string, root: string): Promise<Side> {
  return withColdHome(async (home) => {
    const load = os.loadavg()[0].toFixed(2);
    log(`${name}: cold matrix of ${kernels.length} kernels (load ${load})`);
    const env = { ...process.env, NBDFORGE_HOME: home };
    const t0 = performance.now();
    const r = await $({ env })`node ${path.join(root, 'bin/nbdforge.js')} matrix --jobs 2 --json ${latest ? ['--latest', latest] : []}`.nothrow();
    const s = (performance.now() - t0) / 1000;
    const sum = JSON.parse(r.stdout || '{"counts":{}}') as { counts: Record<string, number> };
    const size = async (p: string) => Number((await $`du -sb ${p}`.nothrow()).stdout.split('\t')[0] || 0);
    const cache = path.join(home, 'cache', 'debian12');
    const du = (await $({ env })`node bin/nbdforge.js cache du`.nothrow()).stdout.split('\n').filter((l) => /^total|^debian12:/.test(l)).join(' / ');
    const out = { name, load, s, built: sum.counts.built ?? 0, failed: sum.counts.failed ?? 0, cacheBytes: (await size(path.join(cache, 'debs'))) + (await size(path.join(cache, 'derived'))) + (await size(path.join(cache, 'apt-cache'))), debsBytes: await size(path.join(cache, 'debs')), du };
    log(`${name}: ${s.toFixed(1)} s, ${JSON.stringify(sum.counts)}, cache ${mb(out.cacheBytes)}`);
    return out;
  });
}

await $`sync`;
const loadBefore = os.loadavg()[0].toFixed(2);
const a = await side('before', path.resolve(base));
const b = await side('after', path.resolve('.'));
const section = `<!-- bench:cold -->
## Cold matrix: the source package checked whole and not kept, apt's package cache kept, the kbuild tree x86 only

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores, load average before the run ${loadBefore} (as each side started: before ${a.load}, after ${b.load}).
Command: \`npm run bench -- cold --base DIR${latest ? ` --latest ${latest}` : ''}\` (scripts/bench-cold.ts), DIR a checkout of the commit before (\`before\`).
${kernels.length} kernels, \`nbdforge matrix --jobs 2\` with an empty download cache of its own (catalog and apt lists copied in), same mirror, one after the other.

| What | before (all kept) | after | Ratio |
|---|---|---|---|
| Wall time of the cold matrix (fetch, derive, build, verify, store) | ${a.s.toFixed(1)} s | ${b.s.toFixed(1)} s | **${(b.s / a.s).toFixed(2)}x** (goal under 0.6x) |
| Bytes downloaded (catalog sizes of the distinct packages fetched; both sides fetch every package whole) | ${mb(downloaded)} | ${mb(downloaded)} | 1.00x (goal under 0.4x: not met, see below) |
| Download cache afterwards (debs + derived + apt's package cache, du) | ${mb(a.cacheBytes)} (debs ${mb(a.debsBytes)}) | ${mb(b.cacheBytes)} (debs ${mb(b.debsBytes)}) | **${(b.cacheBytes / a.cacheBytes).toFixed(2)}x** |
| Kernels built | ${a.built} (${a.failed} failed) | ${b.built} (${b.failed} failed) | |

Of the bytes downloaded, source packages are ${mb(sources)} (${((100 * sources) / downloaded).toFixed(0)}%).
\`cache du\` after: before: ${a.du}; after: ${b.du}.
<!-- /bench:cold -->`;
console.log(section);
if (!args.includes('--no-write')) await writeBenchSection('cold', section, 'map-el7');
