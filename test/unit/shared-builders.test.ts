/**
 * Issue 20 item 2, the host side of the builder kept between processes (SharedBuilders) with a fake door:
 * each fake exec runs the build's own command on this machine with OUT mapped to the real results
 * directory under the test's cache (the wrapper itself runs in the docker tier: shared-builder.test.ts).
 * Proven: results come back and each build's directory is removed; a build whose container ended under it
 * runs once more in a fresh one, a build's own failure does not; an abort removes the container; the
 * cleanup's list of results directories names only those whose process is gone.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { SharedBuilders, leftoverResults } from '../../src/builder/shared-builders.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import type { Containers } from '../../src/docker/containers.ts';
import type { SharedSpec } from '../../src/docker/shared.ts';

interface Fake {
  spec: SharedSpec;
  execs: number;
  killed: boolean;
  alive: boolean;
}
/** A door whose containers run the build's command (after the wrapper's `sh -c WRAP sh`) here; `behave` may fail an exec. */
function fakeDoor(behave: (c: Fake, n: number) => 'ok' | 'ended' | 'fail' = () => 'ok') {
  const made: Fake[] = [];
  const door: Containers = {
    ensureImage: async () => ({ id: 'sha256:x', tag: 'x' }) as never,
    run: async () => ({ output: '', files: [] }),
    async shared(spec) {
      const live = made.at(-1);
      if (live?.alive) return handle(live, made.length, true);
      made.push({ spec, execs: 0, killed: false, alive: true });
      return handle(made.at(-1)!, made.length, false);
    },
  };
  function handle(c: Fake, n: number, reused: boolean) {
    const [host, inside] = c.spec.binds.at(-1)!.split(':');
    async function exec(e: { cmd: string[]; env?: Record<string, string> }) {
      c.execs++;
      const what = behave(c, c.execs);
      if (what === 'ended') {
        c.alive = false;
        throw new ContainerError('container exec build exited with 137 (killed)', 137, '');
      }
      if (what === 'fail') throw new ContainerError('container exec build exited with 2', 2, 'nbd.c:1: error');
      execFileSync(e.cmd[4], e.cmd.slice(5), { env: { ...process.env, ...e.env, OUT: e.env!.OUT.replace(inside, host) } });
      return { output: '' };
    }
    return { id: `c${n}`.padEnd(12, '0'), reused, exec, running: async () => c.alive, kill: async () => void ((c.killed = true), (c.alive = false)) };
  }
  return { door, made };
}

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-shared-'));
const root = path.join(tmp, 'cache', 'builders');
const build = (script: string) => ({ image: 'x', imageId: 'sha256:' + 'a'.repeat(64), binds: ['/a:/b:ro'], tmpfs: { '/work': 'rw' }, labels: {}, cmd: ['sh', '-c', script], env: {} });
const into = () => fs.mkdtempSync(path.join(tmp, 'into-'));

test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('builds reuse one container; results come back; each build removes its results directory', async () => {
  const { door, made } = fakeDoor();
  const b = new SharedBuilders(door, { idleSeconds: 5, root });
  const [one, two] = [into(), into()];
  const first = await b.run(build('echo one > "$OUT/nbd.ko"'), one);
  const second = await b.run(build('echo two > "$OUT/nbd.ko"'), two);
  assert.equal([first.reused, second.reused], [false, true]);
  assert.is(first.container, second.container);
  assert.is(made.length, 1);
  assert.is(made[0].spec.idleSeconds, 5);
  assert.ok(made[0].spec.binds.includes(`${root}:/nbdforge-builders`), made[0].spec.binds.join(' '));
  assert.match(made[0].spec.resultsGlob, /^\/nbdforge-builders\/[0-9a-f]{16}-\*$/);
  assert.is(fs.readFileSync(path.join(one, 'nbd.ko'), 'utf8'), 'one\n');
  assert.is(fs.readFileSync(path.join(two, 'nbd.ko'), 'utf8'), 'two\n');
  assert.equal(fs.readdirSync(root), []);
});

test('a build whose container ended under it runs again in a fresh one; a build that fails on its own does not', async () => {
  const raced = fakeDoor((c) => (raced.made[0] === c ? 'ended' : 'ok'));
  const r = await new SharedBuilders(raced.door, { idleSeconds: 5, root }).run(build('echo ok > "$OUT/nbd.ko"'), into());
  assert.is(raced.made.length, 2, 'a fresh container');
  assert.is(r.reused, false);
  assert.is(r.container, 'c20000000000');
  const failing = fakeDoor(() => 'fail');
  const err = await new SharedBuilders(failing.door, { idleSeconds: 5, root }).run(build('true'), into()).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ContainerError);
  assert.is((err as ContainerError).status, 2);
  assert.is(failing.made.length, 1, 'not run again');
  assert.is(failing.made[0].execs, 1);
  assert.equal(fs.readdirSync(root), []);
});

test('an abort during a build removes its container and fails the build, not run again', async () => {
  const ac = new AbortController();
  const { door, made } = fakeDoor(() => (ac.abort(new Error('interrupted by SIGINT')), 'fail'));
  const err = await new SharedBuilders(door, { idleSeconds: 5, root, signal: ac.signal }).run(build('true'), into()).then(() => undefined, (e: unknown) => e);
  assert.instance(err, Error);
  assert.is(made.length, 1);
  assert.ok(made[0].killed, 'the container is removed');
  assert.equal(fs.readdirSync(root), []);
});

test('leftoverResults: only results directories of this naming whose process is gone', async () => {
  fs.mkdirSync(root, { recursive: true });
  const dead = spawnDead();
  const names = [`0123456789abcdef-${dead}-1-0a0b0c0d`, `0123456789abcdef-${process.pid}-2-0a0b0c0d`, `not-ours-${dead}`, `0123456789abcdef-${dead}-3-0a0b0c0d`];
  for (const n of names.slice(0, 3)) fs.mkdirSync(path.join(root, n));
  fs.writeFileSync(path.join(root, names[3]), "a file, not a build's directory");
  const l = await leftoverResults(root);
  assert.equal(l.map((x) => path.basename(x.path)), [names[0]]);
  assert.is(l[0].pid, dead);
  assert.is(fs.readdirSync(root).length, 4, 'listed, not removed');
  for (const n of names) fs.rmSync(path.join(root, n), { recursive: true, force: true });
});

/** The pid of a process that has ended. */
function spawnDead(): number {
  return Number(execFileSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).trim());
}

test.run();
