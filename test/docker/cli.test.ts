/** The CLI's answers to bad input: clear message, non-zero exit, nothing left behind. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readerDelay, throughSlowPipe, toFile } from '../unit/slow-pipe.ts';

const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-cli-'));
const cli = path.resolve('bin/nbdforge.js');
// Share the download cache and catalog with the main job; the store is the test's own.
// Builds in a container of their own (NBDFORGE_BUILDER_IDLE=0): what these tests assert on; the builder
// kept between processes has its own tests (shared-builder.test.ts).
const env = { ...process.env, NBDFORGE_STORE: path.join(home, 'store'), NBDFORGE_BUILDER_IDLE: '0' };
const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawnSync(cli, args, { env: { ...env, ...extra }, encoding: 'utf8' });

test.after(() => fs.rm(home, { recursive: true, force: true }));

test('unknown kernel: names the known ones, exit 2 (usage), nothing stored', () => {
  const r = run(['build', '--family', 'debian12', '--kernel', '9.9.9-bogus']);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /unknown kernel "9\.9\.9-bogus"/);
  assert.match(r.stderr, /; \d+ known \(nbdforge kernels --family debian12 lists them/);
  assert.ok(r.stderr.length < 400, `one short line, not the whole catalog: ${r.stderr.length} characters`);
  // a near miss names the closest releases; an el7-looking release says which family it is
  const near = run(['build', '--family', 'debian12', '--kernel', '6.1.0-5-amd64']);
  assert.is(near.status, 2);
  assert.match(near.stderr, /the closest: 6\.1\.0-\d+-amd64/);
  const el = run(['build', '--kernel', '3.10.0-1160.el7.x86_64']);
  assert.is(el.status, 2);
  assert.match(el.stderr, /it looks like an el7 kernel: add --family el7/);
  assert.not.ok(spawnSync('test', ['-e', path.join(home, 'store', 'index.json')]).status === 0);
});

test('engine unreachable: says how to start it', () => {
  const r = run(['build', '--kernel', '6.1.0-56-amd64'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /Docker engine unreachable at unix:\/\/\/nonexistent\/docker\.sock \(DOCKER_HOST\)/);
  assert.match(r.stderr, /npm run setup/);
  assert.match(r.stderr, /point DOCKER_HOST at a running engine/);
});

test('bad flags: usage error, exit 2', () => {
  const r = run(['matrix', '--jobs', 'zero']);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--jobs must be a positive integer/);
  const r2 = run(['build']);
  assert.is(r2.status, 2);
  assert.match(r2.stderr, /--kernel is required/);
  const r3 = run(['frobnicate']);
  assert.is(r3.status, 2);
  assert.match(r3.stderr, /unknown command "frobnicate"/);
});

test('Ctrl-C during a build: exit non-zero, container removed, nothing stored', async () => {
  const { spawn } = await import('node:child_process');
  const krel = JSON.parse(run(['kernels', '--json']).stdout).kernels.at(-1).kernelRelease;
  const child = spawn(cli, ['build', '--kernel', krel, '--force'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  const sent = new Promise<void>((resolve) => {
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/compile/.test(err) && !child.killed) {
        child.kill('SIGINT');
        resolve();
      }
    });
  });
  const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
  await sent;
  assert.is.not(code, 0, err);
  assert.match(err, /SIGINT: stopping/);
  const left = spawnSync('docker', ['ps', '-aq', '--filter', `label=nbdforge.pid=${child.pid}`], { encoding: 'utf8' }).stdout.trim();
  assert.is(left, '', 'no container left');
  assert.not.ok(spawnSync('test', ['-e', path.join(home, 'store', 'index.json')]).status === 0, 'nothing stored');
});

test('kill -9 during a build leaves a container; cleanup removes it and spares live runs', async () => {
  const { spawn } = await import('node:child_process');
  const krel = JSON.parse(run(['kernels', '--json']).stdout).kernels.at(-1).kernelRelease;
  const child = spawn(cli, ['build', '--kernel', krel, '--force'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  await new Promise<void>((resolve) =>
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (/compile/.test(err) && !child.killed) {
        child.kill('SIGKILL');
        resolve();
      }
    }),
  );
  await new Promise((r) => child.on('exit', r));
  const label = (pid: number) => spawnSync('docker', ['ps', '-aq', '--filter', `label=nbdforge.pid=${pid}`], { encoding: 'utf8' }).stdout.trim();
  assert.ok(label(child.pid!), 'the killed run left its container');
  // A live run's container (this test process is its owner) must survive a plain cleanup.
  const live = spawnSync('docker', ['run', '-d', '--label', 'nbdforge=1', '--label', `nbdforge.pid=${process.pid}`, '--label', `nbdforge.host=${os.hostname()}`, 'debian:bookworm', 'sleep', '300'], { encoding: 'utf8' }).stdout.trim();
  try {
    const r = run(['cleanup', '--json']);
    assert.is(r.status, 0, r.stderr);
    const removed = JSON.parse(r.stdout).removed as Array<{ pid?: number; role: string }>;
    assert.ok(removed.some((c) => c.pid === child.pid && c.role === 'build'), r.stdout);
    assert.is(label(child.pid!), '', 'leftover removed');
    assert.ok(label(process.pid).length > 0, 'live run spared');
    assert.match(run(['cleanup']).stdout, /nothing to clean up/);
  } finally {
    spawnSync('docker', ['rm', '-f', live]);
  }
});

test('kernels --json lists the catalog', () => {
  const r = run(['kernels', '--json']);
  assert.is(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.is(j.family, 'debian12');
  assert.ok(j.kernels.length >= 2);
  // every line and flavour of kernels/debian12/lines.json; the stock kernel (6.1 amd64) last
  for (const k of j.kernels) assert.match(k.kernelRelease, /^(6\.1\.0-\d+|6\.12\.\d+\+deb12)-(amd64|cloud-amd64|rt-amd64)$/);
  assert.match(j.kernels.at(-1).kernelRelease, /^6\.1\.0-\d+-amd64$/);
});

test('matrix --json over two kernels: summary with per-kernel results', () => {
  const list = JSON.parse(run(['kernels', '--json']).stdout).kernels.map((k: { kernelRelease: string }) => k.kernelRelease);
  const pick = [list[0], list[list.length - 1]];
  const r = run(['matrix', '--kernels', pick.join(','), '--jobs', '2', '--json']);
  assert.is(r.status, 0, r.stderr);
  const s = JSON.parse(r.stdout);
  assert.ok(s.ok);
  assert.equal(s.kernels.map((k: { kernelRelease: string }) => k.kernelRelease), pick);
  for (const k of s.kernels) assert.ok(k.checks.every((c: { ok: boolean }) => c.ok));
  // The same matrix again: everything cached.
  const again = JSON.parse(run(['matrix', '--kernels', pick.join(','), '--json']).stdout);
  assert.is(again.counts.cached, 2);
  // issue 19: a re-run answered from the store loads neither the Docker client nor the HTTP client
  // (a module-resolve hook names every heavy package the process imports)
  const hook = `data:text/javascript,${encodeURIComponent(
    `import { register } from 'node:module'; register('data:text/javascript,' + encodeURIComponent('export async function resolve(s, c, n) { if (/^(dockerode|got|tar-stream|zx)$/.test(s)) process.stderr.write("[loaded] " + s + String.fromCharCode(10)); return n(s, c); }'));`,
  )}`;
  const watched = spawnSync(process.execPath, ['--import', hook, cli, 'matrix', '--kernels', pick.join(','), '--json'], { env, encoding: 'utf8' });
  assert.is(watched.status, 0, watched.stderr);
  assert.is(JSON.parse(watched.stdout).counts.cached, 2);
  assert.equal(watched.stderr.match(/^\[loaded\] .*$/gm) ?? [], [], watched.stderr);
  // the hook works: a build that needs the engine's error path loads dockerode
  const probe = spawnSync(process.execPath, ['--import', hook, cli, 'build', '--kernel', '6.1.0-56-amd64', '--force'], { env: { ...env, DOCKER_HOST: 'unix:///nonexistent/docker.sock' }, encoding: 'utf8' });
  assert.match(probe.stderr, /^\[loaded\] dockerode$/m);
});

test('issue 23: kernels --json (over 64 KiB) and a cached matrix --json reach a slow pipe reader whole; nothing holds the process open after the work', () => {
  const list = JSON.parse(run(['kernels', '--json']).stdout).kernels.map((k: { kernelRelease: string }) => k.kernelRelease);
  const pick = [list[0], list[list.length - 1]].join(',');
  const debugEnv = { ...env, NBDFORGE_DEBUG: '1' };
  for (const args of [['kernels', '--json'], ['kernels'], ['matrix', '--kernels', pick, '--json']]) {
    const file = toFile(args, debugEnv, path.join(home, 'ref.out'));
    assert.is(file.status, 0, file.err.toString());
    if (args[0] === 'kernels' && args[1] === '--json') assert.ok(file.out.length > 64 << 10, `${file.out.length} bytes`);
    // the engine's connections are closed by the command that opened them: the grace exit never fires
    assert.not.match(file.err.toString(), /still held open/);
    const piped = throughSlowPipe(args, debugEnv, { both: true, delayMs: readerDelay(file.ms) });
    assert.is(piped.status, 0);
    const norm = (b: Buffer) => b.toString().replace(/"(\w*)(ms|Ms)": \d+/g, '"$1$2": 0').replace(/\d+(\.\d+)? ?m?s\b/g, 'T');
    assert.is(norm(piped.out), norm(file.out), `${args.join(' ')}: ${piped.out.length} of ${file.out.length} bytes`);
    if (args[0] === 'matrix') JSON.parse(piped.out.toString());
  }
});

test('issue 8.2/8.8: a damaged stored module is rebuilt and replaced (and said so); a garbage index is kept aside and rebuilt', async () => {
  const krel = JSON.parse(run(['kernels', '--json']).stdout).kernels.at(-1).kernelRelease;
  const store = path.join(home, 'store');
  const first = JSON.parse(run(['build', '--kernel', krel, '--json']).stdout);
  const mod = first.kernels[0].path as string;
  const bytes = await fs.readFile(mod);
  bytes[200] ^= 0xff;
  await fs.writeFile(mod, bytes);
  const r = run(['build', '--kernel', krel, '--json']);
  assert.is(r.status, 0, r.stderr);
  const k = JSON.parse(r.stdout).kernels[0];
  assert.is(k.status, 'built', 'not reported as a healthy cache hit');
  assert.match(k.repaired, /was damaged \(.*sha256 .* the manifest says .*\); rebuilt and replaced it/);
  assert.match(r.stderr, /damaged/);
  assert.is(createHash('sha256').update(await fs.readFile(k.path)).digest('hex'), k.sha256);
  // the whole index is garbage: build keeps it aside, re-indexes what verifies, and goes on
  await fs.writeFile(path.join(store, 'index.json'), '{"schema": 1, "artifacts": [{"dir": "../../"');
  const again = run(['build', '--kernel', krel, '--json']);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stderr, /store repaired: .*index\.json: not JSON.*kept it as .*index\.json\.corrupt-/);
  assert.is(JSON.parse(again.stdout).kernels[0].status, 'cached');
  assert.ok((await fs.readdir(store)).some((f) => f.startsWith('index.json.corrupt-')));
});

test.run();
