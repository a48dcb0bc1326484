/**
 * Issue 20: a matrix worker's builds share one kept container. Here the door is a fake whose exec
 * runs the real wrapper shell on this machine (sh -c, OUT and WORK mapped to real directories), so
 * what is proven is the host side: one container for many builds, each build's results copied back
 * as regular files only (a symlink or a FIFO left in OUT is never followed or opened), a failed build
 * drops the container, release removes it and its results directory.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { KeptBuilders } from '../../src/builder/kept-builders.ts';
import { takeRegularFiles } from '../../src/docker/kept.ts';
import type { Containers } from '../../src/docker/containers.ts';
import type { KeepSpec } from '../../src/docker/kept.ts';

function fakeDoor() {
  const kept: Array<{ spec: KeepSpec; execs: number; released: boolean }> = [];
  const door: Containers = {
    ensureImage: async () => ({ id: 'sha256:x', tag: 'x' }) as never,
    run: async () => ({ output: '', files: [] }),
    async keep(spec) {
      const rec = { spec, execs: 0, released: false };
      kept.push(rec);
      // the container path of the results directory, mapped back to the host directory bound there
      const [host, inside] = spec.binds!.at(-1)!.split(':');
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-work-'));
      return {
        async exec(e) {
          rec.execs++;
          const env = { ...process.env, ...e.env, OUT: e.env!.OUT.replace(inside, host), WORK: e.env!.WORK.replace('/work', work) };
          try {
            const out = execFileSync(e.cmd[0], e.cmd.slice(1), { env, encoding: 'utf8' });
            for (const l of out.split('\n')) e.onLine?.(l);
            return { output: out };
          } catch (err) {
            throw new Error(`exec failed: ${(err as Error).message}`);
          }
        },
        async release() {
          rec.released = true;
          fs.rmSync(work, { recursive: true, force: true });
        },
      };
    },
  };
  return { door, kept };
}

const build = (script: string) => ({ image: 'x', imageId: 'sha256:x', binds: ['/a:/b:ro'], tmpfs: { '/work': 'rw' }, labels: {}, cmd: ['sh', '-c', script], env: {} });

test('builds share one kept container; results come back; release removes the container and its directory', async () => {
  const { door, kept } = fakeDoor();
  const b = new KeptBuilders(door);
  const into = [fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-into-')), fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-into-'))];
  try {
    await b.run(build('echo one > "$OUT/nbd.ko"; echo scratch > "$WORK/x"'), into[0]);
    await b.run(build('[ ! -e "$WORK/x" ] && echo two > "$OUT/nbd.ko"'), into[1]);
    assert.is(kept.length, 1, 'one container for both builds');
    assert.is(kept[0].execs, 2);
    assert.is(kept[0].spec.network, 'none');
    assert.is(fs.readFileSync(path.join(into[0], 'nbd.ko'), 'utf8'), 'one\n');
    assert.is(fs.readFileSync(path.join(into[1], 'nbd.ko'), 'utf8'), 'two\n');
    const root = kept[0].spec.binds!.at(-1)!.split(':')[0];
    assert.equal(fs.readdirSync(root).filter((f) => !f.startsWith('.')), [], 'each build\'s results directory is gone after it');
    await b.release();
    assert.ok(kept[0].released);
    assert.not.ok(fs.existsSync(root));
    await b.release(); // idempotent
  } finally {
    for (const d of into) fs.rmSync(d, { recursive: true, force: true });
  }
});

test('a failed build drops the container: the next build gets a new one', async () => {
  const { door, kept } = fakeDoor();
  const b = new KeptBuilders(door);
  const into = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-into-'));
  try {
    const err = await b.run(build('exit 6'), into).then(() => undefined, (e: Error) => e);
    assert.instance(err, Error);
    assert.ok(kept[0].released);
    await b.run(build('echo ok > "$OUT/a"'), into);
    assert.is(kept.length, 2);
    await b.release();
  } finally {
    fs.rmSync(into, { recursive: true, force: true });
  }
});

test('takeRegularFiles: regular files copied; a symlink to a host file and a FIFO are skipped, never followed or opened', async () => {
  const from = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-from-'));
  const to = fs.mkdtempSync(path.join(os.tmpdir(), 'nbdforge-test-to-'));
  const secret = path.join(from, '..', `nbdforge-test-secret-${process.pid}`);
  try {
    fs.writeFileSync(path.join(from, 'nbd.ko'), 'module');
    fs.writeFileSync(secret, 'host secret');
    fs.symlinkSync(secret, path.join(from, 'Module.symvers'));
    execFileSync('mkfifo', [path.join(from, 'kernel.config')]);
    fs.mkdirSync(path.join(from, 'sub'));
    const got = await takeRegularFiles(from, to);
    assert.equal(got, ['nbd.ko']);
    assert.equal(fs.readdirSync(to), ['nbd.ko']);
    assert.is(fs.readFileSync(path.join(to, 'nbd.ko'), 'utf8'), 'module');
  } finally {
    for (const d of [from, to, secret]) fs.rmSync(d, { recursive: true, force: true });
  }
});

test.run();
