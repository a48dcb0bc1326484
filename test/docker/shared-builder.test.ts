/**
 * Issue 20 item 2: the builder container kept between nbdforge processes, with the real engine and the
 * real CLI. Each test sets its own NBDFORGE_BUILDER_IDLE: the idle time is part of a shared builder's
 * key, so these tests never meet each other's builders or those of other runs on the machine (60 s).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { connectEngine, closeEngine, LABEL } from '../../src/docker/engine.ts';
import { SHARED_LABEL, sharedContainer, type SharedSpec } from '../../src/docker/shared.ts';
import { resolvePaths } from '../../src/paths.ts';

const home = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-shared-'));
const cli = path.resolve('bin/nbdforge.js');
const results = path.join(resolvePaths(process.env).cache, 'builders');
const env = (idle: number, store = 'store') => ({ ...process.env, NBDFORGE_STORE: path.join(home, store), NBDFORGE_BUILDER_IDLE: String(idle) });
const docker = await connectEngine(process.env);
const krel = JSON.parse(spawnSync(cli, ['kernels', '--json'], { encoding: 'utf8' }).stdout).kernels.at(-1).kernelRelease as string;

interface Built {
  sha256: string;
  builder?: { container: string; reused: boolean };
}
function build(idle: number, store?: string): Built {
  const r = spawnSync(cli, ['build', '--kernel', krel, '--force', '--json'], { env: env(idle, store), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout).kernels[0] as Built;
}
const buildAsync = (idle: number, store: string, onErr?: (text: string) => void) =>
  new Promise<Built>((resolve, reject) => {
    const child = spawn(cli, ['build', '--kernel', krel, '--force', '--json'], { env: env(idle, store), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => ((err += d.toString()), onErr?.(err)));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).kernels[0] as Built) : reject(new Error(`exit ${code}: ${err}`))));
  });
/** The state of a container by id (prefix), or undefined when it is gone. */
const state = (id: string) => {
  const r = spawnSync('docker', ['inspect', '-f', '{{.State.Status}}', id], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
};
const keyOf = (id: string) => spawnSync('docker', ['inspect', '-f', `{{index .Config.Labels "${SHARED_LABEL}"}}`, id], { encoding: 'utf8' }).stdout.trim();
const resultDirs = async (key: string) => (await fs.readdir(results).catch(() => [] as string[])).filter((n) => n.startsWith(`${key.slice(0, 16)}-`));
async function until(what: string, f: () => boolean | Promise<boolean>, seconds: number): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await f())) {
    if (Date.now() > end) assert.unreachable(`${what}: not within ${seconds} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const stop = (id: string) => spawnSync('docker', ['rm', '-f', id]);

test.after(async () => {
  closeEngine(docker);
  await fs.rm(home, { recursive: true, force: true });
});

test('two forced builds in a row run in the same container, and give the bytes of a build in a container of its own', () => {
  const alone = build(0);
  assert.is(alone.builder, undefined, 'NBDFORGE_BUILDER_IDLE=0: no builder kept');
  const first = build(41);
  const second = build(41);
  try {
    assert.ok(first.builder && second.builder, JSON.stringify(first));
    assert.is(second.builder.container, first.builder.container);
    assert.is(second.builder.reused, true);
    assert.is(state(first.builder.container), 'running');
    assert.is(first.sha256, alone.sha256, 'byte-identical to a container of its own');
    assert.is(second.sha256, alone.sha256);
  } finally {
    if (first.builder) stop(first.builder.container);
  }
});

test('the builder ends by itself after its idle time: no container, no results directory left', async () => {
  const b = build(3).builder!;
  const key = keyOf(b.container);
  assert.match(key, /^[0-9a-f]{64}$/);
  await until('the idle builder ends and removes itself', () => state(b.container) === undefined, 40);
  assert.equal(await resultDirs(key), []);
});

test('a builder removed between runs, or killed in the middle of a build, costs a fresh container: the build succeeds', async () => {
  const first = build(42).builder!;
  stop(first.container);
  const next = build(42).builder!;
  assert.is.not(next.container, first.container);
  assert.is(next.reused, false);
  // killed while it compiles this build (an idle exit racing a reuse looks the same to the build): done in a fresh one
  let killed = false;
  const done = await buildAsync(42, 'store-kill', (err) => {
    if (!killed && /compile/.test(err)) {
      killed = true;
      stop(next.container);
    }
  });
  assert.ok(killed);
  assert.ok(done.builder);
  assert.is.not(done.builder.container, next.container);
  assert.is(state(done.builder.container), 'running');
  stop(done.builder.container);
});

test('two processes building at once share one builder, each with results of its own', async () => {
  const [a, b] = await Promise.all([buildAsync(43, 'store-a'), buildAsync(43, 'store-b')]);
  assert.ok(a.builder && b.builder);
  assert.is(a.builder.container, b.builder.container);
  assert.is(a.sha256, b.sha256);
  const key = keyOf(a.builder.container);
  assert.equal(await resultDirs(key), [], 'each build removed its own results directory');
  stop(a.builder.container);
});

test('another image, other binds or tmpfs: another builder; a container under the name that does not match is refused', async () => {
  const idOf = (image: string) => spawnSync('docker', ['inspect', '-f', '{{.Id}}', image], { encoding: 'utf8' }).stdout.trim();
  const builderImage = spawnSync('docker', ['images', '--format', '{{.Repository}}:{{.Tag}}', 'nbdforge/debian12-builder'], { encoding: 'utf8' }).stdout.split('\n')[0];
  assert.ok(builderImage, 'a debian12 builder image (the builds above made one)');
  const spec: SharedSpec = { image: 'debian:bookworm', imageId: idOf('debian:bookworm'), binds: [`${home}:/h:ro`], tmpfs: { '/work': 'rw,size=1m' }, idleSeconds: 30, resultsGlob: '/nonexistent-*' };
  const one = await sharedContainer(docker, spec);
  const made = [one];
  try {
    const again = await sharedContainer(docker, spec);
    assert.is(one.reused, false);
    assert.is(again.id, one.id);
    assert.is(again.reused, true);
    assert.is((await again.exec({ cmd: ['sh', '-c', 'echo hi'] })).output, 'hi\n');
    for (const differs of [{ image: builderImage, imageId: idOf(builderImage) }, { binds: [`${home}:/other:ro`] }, { tmpfs: { '/work': 'rw,size=2m' } }]) {
      const other = await sharedContainer(docker, { ...spec, ...differs });
      made.push(other);
      assert.is(other.reused, false, JSON.stringify(differs));
      assert.is.not(other.id, one.id);
    }
    // a container under the builder's name that is not the builder (made by something else): never used
    const name = JSON.parse(spawnSync('docker', ['inspect', one.id], { encoding: 'utf8' }).stdout)[0].Name.slice(1) as string;
    stop(one.id);
    spawnSync('docker', ['run', '-d', '--name', name, '--label', `${LABEL}=1`, '--label', `${SHARED_LABEL}=forged`, 'debian:bookworm', 'sleep', '60']);
    try {
      const refused = await sharedContainer(docker, spec).then(() => undefined, (e: Error) => e);
      assert.match(refused?.message ?? '', /is not the builder its name says/);
    } finally {
      stop(name);
    }
  } finally {
    for (const c of made) await c.kill();
  }
});

test('cleanup leaves a running shared builder alone and removes a stopped one; --builders stops the running one', async () => {
  const live = build(44).builder!;
  const dead = spawnSync('docker', ['run', '-d', '--label', `${LABEL}=1`, '--label', `${LABEL}.role=builder`, '--label', `${SHARED_LABEL}=stopped-test`, 'debian:bookworm', 'true'], { encoding: 'utf8' }).stdout.trim();
  await until('the stand-in builder exits', () => state(dead) === 'exited', 20);
  const r = spawnSync(cli, ['cleanup', '--json'], { env: env(44), encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const removed = (JSON.parse(r.stdout).removed as Array<{ id: string }>).map((c) => c.id);
  assert.ok(removed.includes(dead.slice(0, 12)), r.stdout);
  assert.not.ok(removed.includes(live.container), 'a live shared builder is left alone');
  assert.is(state(dead), undefined);
  assert.is(state(live.container), 'running');
  const all = spawnSync(cli, ['cleanup', '--builders', '--json'], { env: env(44), encoding: 'utf8' });
  assert.is(all.status, 0, all.stderr);
  assert.ok((JSON.parse(all.stdout).removed as Array<{ id: string }>).some((c) => c.id === live.container), all.stdout);
  assert.is(state(live.container), undefined);
});

test.run();
