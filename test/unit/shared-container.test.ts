/**
 * Issue 20 item 2, the container side (docker/shared.ts) and the reaper (engine.ts) with only the Engine
 * faked: what a shared builder is created as (its fixed name, labels, no network, AutoRemove, the idle
 * script's arguments), when one is reused, replaced or refused, the race of two creators (409), and
 * which nbdforge containers cleanup removes (live shared builders only with --builders or --all).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import os from 'node:os';
import type { ContainerInfo, Engine, EngineContainer } from '../../src/docker/engine.ts';
import { removeLeftoverContainers } from '../../src/docker/engine.ts';
import { SHARED_LABEL, sharedContainer, sharedKey, type SharedSpec } from '../../src/docker/shared.ts';

type CreateOpts = Parameters<Engine['createContainer']>[0];
interface Box {
  id: string;
  name: string;
  state: string;
  opts: CreateOpts;
}
const spec: SharedSpec = { image: 'b:1', imageId: 'sha256:' + 'a'.repeat(64), labels: { 'nbdforge.role': 'build', 'nbdforge.module': 'nbd' }, binds: ['/c/builders:/nbdforge-builders', '/d:/debs:ro'], tmpfs: { '/work': 'rw,exec,size=2g' }, idleSeconds: 7, resultsGlob: '/nbdforge-builders/x-*' };
const key = sharedKey(spec);

/** An engine of named containers; `onCreate` may answer a create the way a racing process would. */
function fakeEngine(onCreate?: (boxes: Box[], opts: CreateOpts) => void, failStart?: number) {
  const boxes: Box[] = [];
  const log: string[] = [];
  let made = 0;
  const info = (b: Box): ContainerInfo => ({ Id: b.id, Image: b.opts.Image === spec.image ? spec.imageId : 'sha256:other', State: { Running: b.state === 'running', Status: b.state }, Config: { Labels: b.opts.Labels }, HostConfig: { Binds: b.opts.HostConfig.Binds, Tmpfs: b.opts.HostConfig.Tmpfs, NetworkMode: b.opts.HostConfig.NetworkMode } });
  const find = (idOrName: string) => boxes.find((b) => b.id === idOrName || b.name === idOrName);
  const notFound = () => Object.assign(new Error('no such container'), { statusCode: 404 });
  const handle = (idOrName: string) => ({
    id: find(idOrName)?.id ?? idOrName,
    modem: undefined as never,
    getArchive: async () => assert.unreachable() as never,
    exec: async () => assert.unreachable('no exec in these tests') as never,
    async inspect() {
      const b = find(idOrName);
      if (!b) throw notFound();
      return info(b);
    },
    async remove() {
      const b = find(idOrName);
      if (!b) throw notFound();
      log.push(`remove ${b.name || b.id}`);
      boxes.splice(boxes.indexOf(b), 1);
    },
  });
  const engine = {
    modem: undefined as never,
    ping: async () => 'OK',
    listContainers: async () => boxes.map((b) => ({ Id: b.id, Names: [`/${b.name}`], Labels: b.opts.Labels, State: b.state })),
    getContainer: handle,
    getImage: () => assert.unreachable() as never,
    buildImage: async () => assert.unreachable() as never,
    async createContainer(opts: CreateOpts) {
      onCreate?.(boxes, opts);
      if (opts.name && boxes.some((b) => b.name === opts.name)) throw Object.assign(new Error('Conflict'), { statusCode: 409 });
      const b: Box = { id: `id${++made}`, name: opts.name ?? '', state: 'created', opts };
      boxes.push(b);
      log.push(`create ${b.name}`);
      return {
        id: b.id,
        async start() {
          if (failStart) throw Object.assign(new Error('cannot start'), { statusCode: failStart });
          b.state = 'running';
          log.push(`start ${b.name}`);
        },
        remove: () => handle(b.id).remove(),
      } as unknown as EngineContainer;
    },
  } as unknown as Engine;
  return { engine, boxes, log };
}

test('none yet: one is created under the name of its key, no network, AutoRemove, labelled; the next ask reuses it', async () => {
  const { engine, boxes, log } = fakeEngine();
  const first = await sharedContainer(engine, spec);
  assert.is(first.reused, false);
  const o = boxes[0].opts;
  assert.is(o.name, `nbdforge-builder-${key.slice(0, 16)}`);
  assert.equal(o.HostConfig, { Binds: spec.binds, Tmpfs: spec.tmpfs, NetworkMode: 'none', AutoRemove: true });
  assert.equal([o.Labels.nbdforge, o.Labels['nbdforge.role'], o.Labels[SHARED_LABEL], o.Labels['nbdforge.host'], o.Labels['nbdforge.pid'], o.Labels['nbdforge.module']], ['1', 'builder', key, os.hostname(), undefined, 'nbd']);
  assert.equal(o.Cmd.slice(0, 2), ['sh', '-c']);
  assert.equal(o.Cmd.slice(3), ['nbdforge-builder', '7', spec.resultsGlob]);
  const again = await sharedContainer(engine, spec);
  assert.equal([again.id, again.reused], [first.id, true]);
  assert.equal(log, [`create ${o.name}`, `start ${o.name}`]);
  assert.ok(await again.running());
  await again.kill();
  assert.not.ok(await again.running());
});

test('one that ended under the name is removed and made anew; one that does not match is refused', async () => {
  const { engine, boxes, log } = fakeEngine();
  const old = await sharedContainer(engine, spec);
  boxes[0].state = 'exited';
  const fresh = await sharedContainer(engine, spec);
  assert.is.not(fresh.id, old.id);
  assert.equal(log.slice(2), [`remove ${boxes[0].name}`, `create ${boxes[0].name}`, `start ${boxes[0].name}`]);
  for (const change of [{ Image: 'b:other' }, { Labels: { ...boxes[0].opts.Labels, [SHARED_LABEL]: 'forged' } }, { HostConfig: { ...boxes[0].opts.HostConfig, NetworkMode: 'bridge' } }]) {
    const saved = boxes[0].opts;
    boxes[0].opts = { ...saved, ...change };
    const err = await sharedContainer(engine, spec).then(() => undefined, (e: Error) => e);
    assert.match(err?.message ?? '', /is not the builder its name says .*docker rm -f nbdforge-builder-/, JSON.stringify(change));
    boxes[0].opts = saved;
  }
});

test('two creators at once: the one that loses (409) waits for the other to start it and reuses it', async () => {
  let raced = false;
  const fake = fakeEngine((boxes, opts) => {
    if (raced) return;
    raced = true; // another process creates it first, and starts it a moment later
    const b: Box = { id: 'other', name: opts.name!, state: 'created', opts };
    boxes.push(b);
    setTimeout(() => (b.state = 'running'), 150);
  });
  const c = await sharedContainer(fake.engine, spec);
  assert.equal([c.id, c.reused], ['other', true]);
  assert.equal(fake.log, []);
});

test('one left created (its creator killed between create and start) is waited for, then replaced; a start that fails leaves no container', async () => {
  const { engine, boxes, log } = fakeEngine();
  boxes.push({ id: 'abandoned', name: `nbdforge-builder-${key.slice(0, 16)}`, state: 'created', opts: { Image: spec.image, Cmd: [], Labels: {}, HostConfig: {} } as unknown as CreateOpts });
  const t0 = Date.now();
  const c = await sharedContainer(engine, spec, { createdMs: 300, totalMs: 10_000 });
  assert.ok(Date.now() - t0 >= 300, 'waited for its creator first');
  assert.equal([c.id === 'abandoned', c.reused], [false, false]);
  assert.equal(log, [`remove ${boxes[0].name}`, `create ${boxes[0].name}`, `start ${boxes[0].name}`]);
  const failing = fakeEngine(undefined, 500);
  const err = await sharedContainer(failing.engine, spec).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? '', /cannot start/);
  assert.equal(failing.boxes, [], 'the container that never started is removed');
});

test('the reaper: a live shared builder stays (unless --builders or --all), a stopped one goes, owner rules for the rest', async () => {
  const { engine, boxes } = fakeEngine();
  const mk = (id: string, state: string, labels: Record<string, string>) => boxes.push({ id, name: id, state, opts: { Image: 'x', Cmd: [], Labels: { nbdforge: '1', 'nbdforge.host': os.hostname(), ...labels }, HostConfig: { NetworkMode: 'none' } } });
  const fill = () => {
    boxes.length = 0;
    mk('live-shared', 'running', { [SHARED_LABEL]: key });
    mk('dead-shared', 'exited', { [SHARED_LABEL]: key });
    mk('live-run', 'running', { 'nbdforge.pid': String(process.pid) });
    mk('gone-run', 'running', { 'nbdforge.pid': '999999999' });
  };
  fill();
  assert.equal((await removeLeftoverContainers(engine)).map((c) => c.id), ['dead-shared', 'gone-run']);
  fill();
  assert.equal((await removeLeftoverContainers(engine, { builders: true })).map((c) => c.id), ['live-shared', 'dead-shared', 'gone-run']);
  fill();
  assert.equal((await removeLeftoverContainers(engine, { all: true })).map((c) => c.id), ['live-shared', 'dead-shared', 'live-run', 'gone-run']);
});

test.run();
