/**
 * Issue 21: the builder's build-one path through the real container door (docker/containers.ts,
 * image.ts, run.ts) with only the Engine faked: the narrow slice of dockerode it uses. Proven: the
 * stage order (the container's own @@stage lines among them), what it asks the engine for (the
 * image by its context hash, built once; the container's command, env, labels, tmpfs and network;
 * /out copied out, then the container removed), a stored build asks for no container, and a failed
 * image, a failed or aborted container or a hostile archive stores nothing and leaves no scratch.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import tar from 'tar-stream';
import { buildOne, type Stage } from '../../src/builder/build-one.ts';
import { DirStore } from '../../src/artifacts/dir-store.ts';
import { dockerContainers } from '../../src/docker/containers.ts';
import { ContainerError } from '../../src/docker/errors.ts';
import type { Engine, EngineContainer, EngineModem } from '../../src/docker/engine.ts';
import type { FamilyContext } from '../../src/families/family.ts';
import { resolvePaths } from '../../src/paths.ts';
import { K, module, fakeFamily, goodOutputs } from './build-fakes.ts';

type CreateOpts = Parameters<Engine['createContainer']>[0];
/** What the fake container does: the lines it prints, its exit code, the files it leaves in /out (archive names as given). */
interface Behaviour {
  lines?: string[];
  exitCode?: number;
  out?: Record<string, string | Uint8Array>;
  /** Print the lines, then run until killed (exit 137). */
  hang?: boolean;
  buildError?: string;
}

const modem: EngineModem = {
  demuxStream: (stream, stdout) => void stream.on('data', (c: Buffer) => stdout.write(c)),
  followProgress(stream, onFinished, onProgress) {
    const events: Array<{ stream?: string; error?: string }> = [];
    stream.on('data', (c: Buffer) => {
      for (const l of c.toString('utf8').split('\n').filter(Boolean)) events.push(JSON.parse(l) as { stream?: string });
    });
    stream.on('end', () => {
      events.forEach(onProgress);
      onFinished(null, events);
    });
  },
};

/** An engine that holds images by name and "runs" each container as `behave` says; every call is logged. */
function fakeEngine(behave: () => Behaviour) {
  const log: string[] = [];
  const created: CreateOpts[] = [];
  const images = new Map<string, string>([['none', 'sha256:' + 'b'.repeat(64)]]);
  const container = (opts: CreateOpts, id: string): EngineContainer => {
    const b = behave();
    const stream = new PassThrough();
    let exit: (code: number) => void = () => {};
    const exited = new Promise<number>((r) => (exit = r));
    return {
      id,
      modem,
      attach: async () => (log.push('attach'), stream),
      async start() {
        log.push(`start ${opts.Cmd.join(' ')}`);
        for (const l of b.lines ?? []) stream.write(`${l}\n`);
        if (!b.hang) {
          stream.end();
          exit(b.exitCode ?? 0);
        }
      },
      wait: async () => ({ StatusCode: await exited }),
      kill: async () => (log.push('kill'), stream.end(), exit(137)),
      remove: async (o) => log.push(`remove force=${o.force}`),
      async getArchive(o) {
        log.push(`getArchive ${o.path}`);
        const pack = tar.pack();
        for (const [name, data] of Object.entries(b.out ?? {})) pack.entry({ name: name.includes('/') ? name : `out/${name}` }, Buffer.from(data));
        pack.finalize();
        return pack as unknown as NodeJS.ReadableStream;
      },
      exec: async () => assert.unreachable('build-one execs nothing in a container of its own') as never,
      inspect: async () => assert.unreachable('a container of its own is never inspected') as never,
    };
  };
  const made = new Map<string, EngineContainer>();
  const engine: Engine = {
    modem,
    ping: async () => 'OK',
    listContainers: async () => [],
    getContainer: (id) => made.get(id)!,
    getImage: (name) => ({
      inspect: async () => {
        log.push(`inspect ${name.split(':')[0]}`);
        const id = images.get(name);
        if (!id) throw new Error(`no such image: ${name}`);
        return { Id: id };
      },
    }),
    async buildImage(_context, o) {
      log.push(`buildImage ${o.t.split(':')[0]} base=${o.buildargs.BASE}`);
      const err = behave().buildError;
      if (!err) images.set(o.t, 'sha256:' + 'c'.repeat(64));
      return Readable.from([JSON.stringify(err ? { error: err } : { stream: 'Step 1/1\n' }) + '\n']);
    },
    async createContainer(opts) {
      log.push('createContainer');
      created.push(opts);
      const c = container(opts, `c${created.length}`);
      made.set(c.id, c);
      return c;
    },
  };
  return { engine, log, created };
}

let tmp = '';
let context = '';
const savedTmp = process.env.TMPDIR;
/** Scratch directories of builds (they live in os.tmpdir(), pointed at tmp/scratch here). */
const scratchLeft = async () => (await fs.readdir(path.join(tmp, 'scratch'))).filter((n) => n.startsWith(`nbdforge-${K}-`));

test.before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'nbdforge-build-engine-'));
  context = path.join(tmp, 'builder');
  await fs.mkdir(context);
  await fs.mkdir(path.join(tmp, 'scratch'));
  await fs.writeFile(path.join(context, 'Dockerfile'), 'FROM none\n');
  goodOutputs(); // the ELF fixtures' compile directory is made now, in the real tmpdir, for every test file of this run
  process.env.TMPDIR = path.join(tmp, 'scratch');
});
test.after(async () => {
  if (savedTmp === undefined) delete process.env.TMPDIR;
  else process.env.TMPDIR = savedTmp;
  await fs.rm(tmp, { recursive: true, force: true });
});

function setup(name: string, behave: () => Behaviour) {
  const fake = fakeEngine(behave);
  const calls: string[] = [];
  const store = new DirStore(path.join(tmp, name));
  const stages: Stage[] = [];
  const ctx: FamilyContext = { containers: dockerContainers(fake.engine), paths: resolvePaths({}, { home: tmp }) };
  const req = { family: fakeFamily(calls, context), kernelRelease: K, module, store, toolVersion: 'test', patchRules: [], onStage: (s: Stage) => stages.push(s) };
  return { ...fake, calls, store, stages, ctx, req };
}

const goodRun = (): Behaviour => ({ lines: ['@@stage unpack-headers', '@@stage compile', 'CC nbd.o', '@@stage done'], out: goodOutputs() });

test('a build: the stages in order, the image built once from its context, the container asked for its command and /out, then removed', async () => {
  const s = setup('store-good', goodRun);
  const first = await buildOne(s.ctx, s.req);
  assert.is(first.status, 'built');
  assert.equal(s.stages, ['resolve', 'image', 'fetch', 'container', 'unpack-headers', 'compile', 'collect', 'verify', 'store']);
  assert.equal(s.calls, ['catalog', `recipe ${K} rules=0`, 'sources']);
  assert.equal(s.log, ['inspect none', 'inspect fake/builder', 'buildImage fake/builder base=none', 'inspect fake/builder', 'createContainer', 'attach', 'start build', 'getArchive /out', 'remove force=true']);
  const c = s.created[0];
  assert.match(c.Image, /^fake\/builder:[0-9a-f]{16}$/);
  assert.equal(c.Cmd, ['build']);
  assert.equal(c.Env, [`KREL=${K}`, 'MODULE=nbd']);
  assert.equal([c.Labels.nbdforge, c.Labels['nbdforge.role'], c.Labels['nbdforge.kernel'], c.Labels['nbdforge.module'], c.Labels['nbdforge.pid']], ['1', 'build', K, 'nbd', String(process.pid)]);
  assert.equal(c.HostConfig, { Binds: [], Tmpfs: { '/work': 'rw,exec,size=2g' }, NetworkMode: 'bridge' });
  assert.is(first.manifest.builderImage, 'sha256:' + 'c'.repeat(64), 'the id of the image the engine built');
  assert.ok((await s.store.verify(first.artifact)).ok);
  assert.equal(await scratchLeft(), []);

  s.log.length = 0;
  s.stages.length = 0;
  const again = await buildOne(s.ctx, s.req);
  assert.is(again.status, 'cached');
  assert.equal(s.stages, ['resolve', 'image']);
  assert.equal(s.log, ['inspect none', 'inspect fake/builder'], 'a stored build asks only for the image: no build, no container');
});

test('a container that fails: ContainerError with its exit code and last lines, removed, nothing stored, no scratch left', async () => {
  const s = setup('store-fail', () => ({ lines: ['@@stage compile', 'nbd.c:1: error: expected'], exitCode: 2 }));
  const err = await buildOne(s.ctx, s.req).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ContainerError);
  assert.is((err as ContainerError).status, 2);
  assert.match((err as Error).message, 'container build exited with 2');
  assert.match((err as ContainerError).logTail, 'nbd.c:1: error: expected');
  assert.equal(s.stages, ['resolve', 'image', 'fetch', 'container', 'compile']);
  assert.not.ok(s.log.some((l) => l.startsWith('getArchive')), 'a failed build copies nothing out');
  assert.is(s.log.at(-1), 'remove force=true');
  assert.equal(await s.store.list(), []);
  assert.equal(await scratchLeft(), []);
});

test('an image that fails to build: ContainerError naming the tag, no container created', async () => {
  const s = setup('store-image', () => ({ buildError: 'E: Unable to locate package gcc-12' }));
  const err = await buildOne(s.ctx, s.req).then(() => undefined, (e: unknown) => e);
  assert.instance(err, ContainerError);
  assert.match((err as Error).message, /building image fake\/builder:[0-9a-f]{16} failed: E: Unable to locate package gcc-12/);
  assert.equal(s.stages, ['resolve', 'image']);
  assert.not.ok(s.log.includes('createContainer'));
  assert.equal(await s.store.list(), []);
});

test('an abort while the container runs kills and removes it; nothing stored, no scratch left', async () => {
  const ac = new AbortController();
  const s = setup('store-abort', () => ({ lines: ['@@stage compile'], hang: true }));
  const onStage = s.req.onStage;
  const req = { ...s.req, onStage: (st: Stage) => (onStage(st), st === 'compile' && setImmediate(() => ac.abort(new Error('interrupted by SIGINT')))) };
  const err = await buildOne({ ...s.ctx, signal: ac.signal }, req).then(() => undefined, (e: unknown) => e);
  assert.match((err as Error).message, 'aborted');
  assert.ok(s.log.includes('kill'));
  assert.is(s.log.at(-1), 'remove force=true');
  assert.equal(await s.store.list(), []);
  assert.equal(await scratchLeft(), []);
});

test('an archive entry that climbs out of /out is refused; a missing output is named; neither stores anything', async () => {
  const hostile = setup('store-hostile', () => ({ ...goodRun(), out: { ...goodOutputs(), 'out/../../escape': 'x' } }));
  const err = await buildOne(hostile.ctx, hostile.req).then(() => undefined, (e: unknown) => e);
  assert.match((err as Error).message, 'refusing archive entry outside the output directory: out/../../escape');
  assert.equal(await hostile.store.list(), []);
  const short = setup('store-short', () => {
    const out = goodOutputs();
    delete out['Module.symvers'];
    return { ...goodRun(), out };
  });
  const missing = await buildOne(short.ctx, short.req).then(() => undefined, (e: unknown) => e);
  assert.match((missing as Error).message, `the fake build of ${K} left no Module.symvers in /out; nothing stored`);
  assert.equal(await short.store.list(), []);
  assert.equal(await scratchLeft(), []);
});

test.run();
