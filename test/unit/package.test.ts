/**
 * Issue 19 item 1: `npm pack` makes a tarball that `npm install -g` installs and runs with no
 * checkout: compiled JavaScript (no TypeScript at run time), the builders' contexts whole (shared
 * scripts included without symlinks), and the commands that need no engine work from it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pickEntry } from '../../bin/dist-state.js';
import { readContext } from '../../src/docker/image.ts';
import { putModule } from './publish-fixtures.ts';

const root = path.resolve('.');
let tmp = '';
let bin = '';
let pkgRoot = '';

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-package-'));
  // dist/ as npm ci's prepare built it; an edited checkout builds it again first
  if (pickEntry(root) !== 'dist') {
    const b = spawnSync(process.execPath, ['scripts/build-dist.mjs'], { encoding: 'utf8' });
    if (b.status !== 0) throw new Error(`build-dist failed: ${b.stderr}`);
  }
  const p = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', tmp, '--json'], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`npm pack failed: ${p.stderr}`);
  const tgz = path.join(tmp, JSON.parse(p.stdout)[0].filename);
  const i = spawnSync('npm', ['install', '-g', '--prefix', path.join(tmp, 'prefix'), '--prefer-offline', '--no-audit', '--no-fund', tgz], { encoding: 'utf8' });
  if (i.status !== 0) throw new Error(`npm install -g failed: ${i.stderr}`);
  bin = path.join(tmp, 'prefix', 'bin', 'nbdforge');
  pkgRoot = path.join(tmp, 'prefix', 'lib', 'node_modules', 'nbdforge');
});
test.after(() => fs.rm(tmp, { recursive: true, force: true }));

const run = (...args: string[]) => spawnSync(bin, args, { encoding: 'utf8', cwd: tmp, env: { ...process.env, NBDFORGE_HOME: path.join(tmp, 'home') } });

test('the installed command runs the compiled JavaScript: no sources, no TypeScript in the package', async () => {
  const files = await fs.readdir(pkgRoot);
  assert.ok(files.includes('dist') && files.includes('bin') && files.includes('containers') && files.includes('kernels'), files.join(' '));
  assert.not.ok(files.includes('src'), 'src/ is not shipped');
  assert.is(pickEntry(pkgRoot), 'dist');
  const v = run('--version');
  assert.is(v.status, 0, v.stderr);
  assert.is(v.stdout.trim(), JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')).version);
  const h = run('--help');
  assert.is(h.status, 0);
  assert.match(h.stdout, /prepare-host/);
  assert.match(run('help', 'map').stdout, /Usage: nbdforge map/);
});

test('the builders\' contexts are whole in the package (the shared scripts come through context.json)', async () => {
  for (const fam of ['debian12', 'el7']) {
    const here = (await readContext(path.join(root, 'containers', fam))).map((f) => [f.name, f.mode, f.data.toString('base64')]);
    const there = (await readContext(path.join(pkgRoot, 'containers', fam))).map((f) => [f.name, f.mode, f.data.toString('base64')]);
    assert.equal(there, here, fam);
    assert.ok(here.some(([n]) => n === 'compile.sh'));
  }
});

test('commands that need no engine work from the installed package: an emitted prepare-host script, a map dry run', async () => {
  const store = path.join(tmp, 'store');
  await putModule(store, '6.1.0-56-amd64');
  const r = run('prepare-host', '--from', store, '--kernel', '6.1.0-56-amd64', '--emit-script', '-');
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /^#!\/bin\/sh/);
  assert.is(spawnSync('sh', ['-n'], { input: r.stdout }).status, 0);
  await fs.writeFile(path.join(tmp, 'disk.img'), Buffer.alloc(1 << 20));
  const m = run('map', path.join(tmp, 'disk.img'), '--emit-script', '-');
  assert.is(m.status, 0, m.stderr);
  assert.match(m.stdout, /^#!\/bin\/sh/);
});

test.run();
