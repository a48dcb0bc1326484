/** Builder images are tagged by a hash of their context: unchanged -> reused, changed -> rebuilt. */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { connectEngine } from '../../src/docker/engine.ts';
import { ensureImage, imageTag } from '../../src/docker/image.ts';
import { runContainer } from '../../src/docker/run.ts';
import { existingImage } from '../../src/docker/light.ts';

const docker = await connectEngine(process.env);
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-image-'));
const spec = { repo: 'nbdforge/test-image', contextDir: dir, buildArgs: {}, baseImage: 'debian:bookworm' };
const tags: string[] = [];

test.after(async () => {
  // removing images is the test's own cleanup, not something nbdforge asks of the engine
  for (const t of tags) await (docker as unknown as Docker).getImage(t).remove({ force: true }).catch(() => undefined);
  await fs.rm(dir, { recursive: true, force: true });
});

test('same context: built once, then reused; changed context: rebuilt under a new tag', async () => {
  await fs.writeFile(path.join(dir, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nCOPY hello.txt /hello.txt\n');
  await fs.writeFile(path.join(dir, 'hello.txt'), `first ${Date.now()}\n`);
  const a = await ensureImage(docker, spec);
  tags.push(a.tag);
  assert.ok(a.built, 'first use builds');
  const again = await ensureImage(docker, spec);
  assert.is(again.built, false);
  assert.is(again.id, a.id);

  await fs.writeFile(path.join(dir, 'hello.txt'), `second ${Date.now()}\n`);
  const b = await ensureImage(docker, spec);
  tags.push(b.tag);
  assert.ok(b.built, 'changed context builds');
  assert.is.not(b.tag, a.tag);
  assert.is(await imageTag(docker, spec), b.tag);
  const { output } = await runContainer(docker, { image: b.tag, cmd: ['cat', '/hello.txt'] });
  assert.match(output, /^second /);
});

test('existingImage (no dockerode, the cached-build path): the tag and id ensureImage gives; undefined for a missing image, base or engine', async () => {
  await fs.writeFile(path.join(dir, 'hello.txt'), `light ${Date.now()}\n`);
  assert.is(await existingImage(process.env, spec), undefined, 'not built yet');
  const built = await ensureImage(docker, spec);
  tags.push(built.tag);
  assert.equal(await existingImage(process.env, spec), { tag: built.tag, id: built.id, built: false });
  assert.is(await existingImage(process.env, { ...spec, buildArgs: { X: String(Date.now()) } }), undefined, 'other build args: another tag');
  assert.is(await existingImage(process.env, { ...spec, baseImage: 'nbdforge/no-such-base:1' }), undefined, 'missing base');
  assert.is(await existingImage({ ...process.env, DOCKER_HOST: `unix://${path.join(dir, 'no.sock')}` }, spec), undefined, 'no engine there');
  assert.is(await existingImage({ ...process.env, DOCKER_HOST: 'tcp://127.0.0.1:1' }, spec), undefined, 'tcp: the full door decides');
});

test('concurrent callers share one build', async () => {
  await fs.writeFile(path.join(dir, 'hello.txt'), `third ${Date.now()}\n`);
  const [x, y] = await Promise.all([ensureImage(docker, spec), ensureImage(docker, spec)]);
  tags.push(x.tag);
  assert.is(x.id, y.id);
  assert.is([x.built, y.built].filter(Boolean).length, 2, 'both see the one build they shared');
});

test('a failing Dockerfile reports the build output', async () => {
  await fs.writeFile(path.join(dir, 'Dockerfile'), 'ARG BASE\nFROM ${BASE}\nRUN echo boom-marker && false\n');
  const err = await ensureImage(docker, spec).catch((e) => e);
  assert.instance(err, Error);
  assert.match(err.message, /building image nbdforge\/test-image:/);
  assert.match(err.message, /boom-marker/);
});

test.run();
