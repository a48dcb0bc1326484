import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Containers } from '../docker/containers.ts';
import { takeRegularFiles } from '../docker/kept.ts';
import { SHARED_WRAP, sharedKey, type SharedContainer, type SharedSpec } from '../docker/shared.ts';
import { processAlive } from '../util/file-lock.ts';
import { ContainerError } from '../docker/errors.ts';
import type { BuilderUse, Builders, KeptBuild } from './kept-builders.ts';

/** Where a shared builder sees the cache's builders directory (each build's results under it). */
const INSIDE = '/nbdforge-builders';
/** A build's results directory in <cache>/builders: <key16>-<pid>-<n>-<random> (its owner's pid, for cleanup). */
const RESULTS = /^([0-9a-f]{16})-(\d+)-\d+-[0-9a-f]{8}$/;

export interface SharedOptions {
  /** Seconds a shared builder stays up after its last build (NBDFORGE_BUILDER_IDLE); above 0. */
  idleSeconds: number;
  /** <cache>/builders: bound into every shared builder, each build's results directory under it. */
  root: string;
  signal?: AbortSignal;
}

/**
 * Builds in builder containers kept between nbdforge processes (docker/shared.ts): the container is
 * found (or made) for the build's image id, binds and tmpfs, the build is one exec with OUT and WORK of
 * its own (unique across processes), its results come back through <cache>/builders, and the directory
 * is removed after. A build whose exec failed because the container ended meanwhile (its idle exit, a
 * cleanup) runs again in a fresh one. Nothing to release: the container ends itself when idle.
 */
export class SharedBuilders implements Builders {
  private n = 0;

  constructor(
    private containers: Containers,
    private opts: SharedOptions,
  ) {}

  get available(): boolean {
    return !!this.containers.shared;
  }

  async run(b: KeptBuild, into: string): Promise<BuilderUse> {
    const { spec, key16 } = this.specOf(b);
    await fs.mkdir(this.opts.root, { recursive: true });
    for (let attempt = 0; ; attempt++) {
      const c = await this.containers.shared!(spec);
      const id = `${key16}-${process.pid}-${++this.n}-${randomBytes(4).toString('hex')}`;
      const hostOut = path.join(this.opts.root, id);
      await fs.mkdir(hostOut);
      const onAbort = () => void c.kill();
      this.opts.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        await c.exec({ cmd: ['sh', '-c', SHARED_WRAP, 'sh', ...b.cmd], what: b.cmd.join(' '), env: { ...b.env, OUT: `${INSIDE}/${id}`, WORK: `/work/${id}` }, onLine: b.onLine }, this.opts.signal);
        // the container could have swapped the directory for a link meanwhile: read only a real directory
        if (!(await fs.lstat(hostOut)).isDirectory()) throw new Error(`${hostOut} is no longer a directory`);
        await takeRegularFiles(hostOut, into);
        return { container: c.id.slice(0, 12), reused: c.reused };
      } catch (err) {
        if (this.opts.signal?.aborted || attempt > 0 || !(await endedUnder(c, err))) throw err;
        // the container ended under the exec (its idle exit raced this reuse, or a cleanup): again in a fresh one
      } finally {
        this.opts.signal?.removeEventListener('abort', onAbort);
        await fs.rm(hostOut, { recursive: true, force: true });
      }
    }
  }

  async release(): Promise<void> {}

  /** The container a build needs, and the start of its key (its results directories are named by it). */
  private specOf(b: KeptBuild): { spec: SharedSpec; key16: string } {
    const made = { image: b.image, imageId: b.imageId, binds: [...b.binds, `${this.opts.root}:${INSIDE}`], tmpfs: b.tmpfs, labels: b.labels, idleSeconds: this.opts.idleSeconds };
    const key16 = sharedKey(made).slice(0, 16);
    return { spec: { ...made, resultsGlob: `${INSIDE}/${key16}-*` }, key16 };
  }
}

/**
 * Did the exec fail because its container ended (a kill shows as exit 137, or the exec vanished with the
 * container)? The engine records the container's end a moment after its processes died: asked for up to 2 s.
 * A build's own failure (any other exit) is answered at once.
 */
async function endedUnder(c: SharedContainer, err: unknown): Promise<boolean> {
  const status = err instanceof ContainerError ? err.status : undefined;
  if (status !== undefined && status !== 137 && status !== -1) return false;
  for (let i = 0; i < 20; i++) {
    if (!(await c.running())) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

/**
 * Results directories in <cache>/builders whose build is gone: its process (by the pid in the name)
 * is not running on this machine. A live build's directory is never among them; the shared builder
 * removes its builds' directories itself when it ends.
 */
export async function leftoverResults(root: string): Promise<Array<{ path: string; pid: number }>> {
  const out: Array<{ path: string; pid: number }> = [];
  for (const d of await fs.readdir(root, { withFileTypes: true }).catch(() => [])) {
    const m = RESULTS.exec(d.name);
    if (!m || !d.isDirectory()) continue;
    const pid = Number(m[2]);
    if (!processAlive(pid)) out.push({ path: path.join(root, d.name), pid });
  }
  return out;
}
