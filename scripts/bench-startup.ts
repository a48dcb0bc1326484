#!/usr/bin/env tsx
/**
 * Start-up (issue 19 item 1): whole CLI processes against a bare `node -e 0` in the same run, the
 * compiled dist/ against the tsx start-up it replaces, each as `node bin/nbdforge.js` and as the
 * command `npm install -g` puts on PATH: --version, --help, a cached build (`build --kernel K`, a
 * store hit) and a matrix re-run with everything stored (`matrix --latest 3`). Runs are interleaved
 * (A, B, C, ... then again), so the machine's load moves them all alike; medians.
 * The builds use the user's download cache (NBDFORGE_HOME) and a store of the benchmark's own
 * ($NBDFORGE_HOME/bench-startup-store: the default store is shared with whatever else builds on the
 * machine, and a build from other sources replaces a kernel's entry); one untimed
 * `matrix --latest 3` first builds what is missing there, so every timed build is a store hit.
 *   tsx scripts/bench-startup.ts [--runs N] [--no-write]
 * Writes the section between the bench:startup markers of docs/BENCHMARKS.md.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pickEntry } from '../bin/dist-state.js';
import { median } from './bench-options.ts';

const args = process.argv.slice(2);
const runs = Number(args[args.indexOf('--runs') + 1]) || 15;
const log = (s: string) => process.stderr.write(`[bench-startup] ${s}\n`);
const root = path.resolve('.');
if (pickEntry(root) !== 'dist') {
  log('dist/ is stale or missing: building it');
  if (spawnSync(process.execPath, ['scripts/build-dist.mjs'], { stdio: 'inherit' }).status !== 0) process.exit(1);
}
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-bench-startup-'));
const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], { encoding: 'utf8' });
const tgz = path.join(work, JSON.parse(pack.stdout)[0].filename);
const inst = spawnSync('npm', ['install', '-g', '--prefix', path.join(work, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', tgz], { encoding: 'utf8' });
if (inst.status !== 0) throw new Error(inst.stderr);
const installed = path.join(work, 'prefix', 'bin', 'nbdforge');

// every timed build must be a store hit: build what is missing once, untimed, into the bench's own store
const home = process.env.NBDFORGE_HOME ?? path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'nbdforge');
process.env.NBDFORGE_STORE = path.join(home, 'bench-startup-store');
const warm = spawnSync(process.execPath, ['bin/nbdforge.js', 'matrix', '--latest', '3', '--json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
if (warm.status !== 0) throw new Error(`matrix --latest 3 (warm-up) failed: exit ${warm.status}`);
const stored = (JSON.parse(warm.stdout) as { kernels: Array<{ kernelRelease: string }> }).kernels.map((k) => k.kernelRelease);
const K = stored[stored.length - 1];
log(`store hits: build --kernel ${K}; matrix --latest 3 (${stored.join(', ')})`);
const buildArgs = ['build', '--kernel', K];
const matrixArgs = ['matrix', '--latest', '3'];

interface Case {
  name: string;
  argv: string[];
  env?: NodeJS.ProcessEnv;
  /** A build: every kernel must come from the store ("cached"), or the figure is a build's. */
  cached?: boolean;
}
const node = process.execPath;
const cases: Case[] = [
  { name: 'node -e 0', argv: [node, '-e', '0'] },
  { name: 'node bin/nbdforge.js --version (dist)', argv: [node, 'bin/nbdforge.js', '--version'] },
  { name: 'node bin/nbdforge.js --version (tsx, before)', argv: [node, 'bin/nbdforge.js', '--version'], env: { NBDFORGE_FROM_SOURCE: '1' } },
  { name: 'node bin/nbdforge.js --help (dist)', argv: [node, 'bin/nbdforge.js', '--help'] },
  { name: 'node bin/nbdforge.js --help (tsx, before)', argv: [node, 'bin/nbdforge.js', '--help'], env: { NBDFORGE_FROM_SOURCE: '1' } },
  { name: 'nbdforge --version (npm install -g)', argv: [installed, '--version'] },
  { name: 'nbdforge --help (npm install -g)', argv: [installed, '--help'] },
  { name: 'node bin/nbdforge.js build --kernel K, stored (dist)', argv: [node, 'bin/nbdforge.js', ...buildArgs], cached: true },
  { name: 'node bin/nbdforge.js build --kernel K, stored (tsx, before)', argv: [node, 'bin/nbdforge.js', ...buildArgs], env: { NBDFORGE_FROM_SOURCE: '1' }, cached: true },
  { name: 'nbdforge build --kernel K, stored (npm install -g)', argv: [installed, ...buildArgs], cached: true },
  { name: 'node bin/nbdforge.js matrix --latest 3, all stored (dist)', argv: [node, 'bin/nbdforge.js', ...matrixArgs], cached: true },
  { name: 'node bin/nbdforge.js matrix --latest 3, all stored (tsx, before)', argv: [node, 'bin/nbdforge.js', ...matrixArgs], env: { NBDFORGE_FROM_SOURCE: '1' }, cached: true },
  { name: 'nbdforge matrix --latest 3, all stored (npm install -g)', argv: [installed, ...matrixArgs], cached: true },
];
// the "dist" cases must really run dist/: an edit of src/ during the run would send them to tsx
const distFresh = () => {
  if (pickEntry(root) !== 'dist') throw new Error('src/ changed during the benchmark: dist/ is stale, the "dist" figures would be tsx ones; run it again');
};
distFresh();
const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
const loadBefore = os.loadavg()[0];
for (let i = 0; i < runs; i++) {
  for (const c of cases) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(c.argv[0], c.argv.slice(1), { env: { ...process.env, ...c.env }, stdio: ['ignore', c.cached ? 'pipe' : 'ignore', 'pipe'], encoding: 'utf8' });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.status !== 0) throw new Error(`${c.name}: exit ${r.status}: ${r.stderr}`);
    if (c.cached && / built /.test(r.stdout)) throw new Error(`${c.name}: built instead of a store hit:\n${r.stdout}`);
    times.get(c.name)!.push(s);
  }
}
distFresh();
const base = median(times.get('node -e 0')!);
const row = (c: Case) => {
  const m = median(times.get(c.name)!);
  return `| \`${c.name}\` | ${m.toFixed(3)} s | ${(m / base).toFixed(2)}x |`;
};
const section = `<!-- bench:startup -->
## Start-up: compiled JavaScript against tsx

Measured ${new Date().toISOString().slice(0, 16)}Z on ${os.cpus().length} cores, load average before the run ${loadBefore.toFixed(2)}.
Command: \`npm run bench -- startup\` (\`tsx scripts/bench-startup.ts --runs ${runs}\`): whole processes, interleaved, medians of ${runs}.
"dist" is the JavaScript \`npm ci\`/\`npm pack\` compile (\`scripts/build-dist.mjs\`); "tsx, before" is the same
checkout made to run its TypeScript through tsx (\`NBDFORGE_FROM_SOURCE=1\`), which every run did before.

| Command | Median | Ratio to \`node -e 0\` |
|---|---|---|
${cases.map(row).join('\n')}

K is ${K}; \`matrix --latest 3\` is ${stored.join(', ')}, all stored (warm-up run first, untimed, into the
benchmark's own store \`$NBDFORGE_HOME/bench-startup-store\`).

Goals: \`--version\` and \`--help\` within 2x of \`node -e 0\`; a cached build and a matrix re-run within 4x.
<!-- /bench:startup -->`;
console.log(section);
await fs.rm(work, { recursive: true, force: true });
if (!args.includes('--no-write')) {
  const doc = 'docs/BENCHMARKS.md';
  let text = await fs.readFile(doc, 'utf8');
  const re = /<!-- bench:startup -->[\s\S]*<!-- \/bench:startup -->/;
  text = re.test(text) ? text.replace(re, section) : `${text.trimEnd()}\n\n${section}\n`;
  await fs.writeFile(doc, text);
  log(`wrote ${doc}`);
}
