import fs from 'node:fs/promises';
import path from 'node:path';
import type { Containers } from '../docker/containers.ts';
import { takeRegularFiles, type KeptContainer } from '../docker/kept.ts';
import { SAME_BYTES } from '../docker/shared.ts';
import { makeScratch } from './scratch.ts';

/** What each build runs in a kept builder: a work directory of its own, removed afterwards whatever happened. */
const WRAP = `${SAME_BYTES}; rm -rf "$WORK"; mkdir -p "$WORK" "$OUT"; "$@"; rc=$?; rm -rf "$WORK"; exit $rc`;
/** Where the kept container sees the host directory its builds leave their results in. */
const OUT_ROOT = '/nbdforge-out';

export interface KeptBuild {
  image: string;
  /** The image's id (a shared builder is keyed and checked by it). */
  imageId: string;
  binds: string[];
  tmpfs: Record<string, string>;
  labels: Record<string, string>;
  cmd: string[];
  env: Record<string, string>;
  onLine?: (line: string) => void;
}

/** Which container a build ran in: its id, and whether it was already running (a shared builder reused). */
export interface BuilderUse {
  container: string;
  reused: boolean;
}

/** Where a reentrant recipe runs its builds instead of a container of its own (KeptBuilders, SharedBuilders). */
export interface Builders {
  readonly available: boolean;
  /** Run one build's command and copy what it left in OUT into `into`. */
  run(b: KeptBuild, into: string): Promise<BuilderUse | void>;
  /** Whatever this process still holds; idempotent. */
  release(): Promise<void>;
}

/**
 * One matrix worker's builder: a container started at its first build and reused by the next ones
 * (same image and binds), instead of one container per kernel. Each build gets OUT and WORK of its
 * own; results come back through a bound host directory (regular files only, see takeRegularFiles),
 * not getArchive. A failed build drops the container, so the next one starts clean.
 */
export class KeptBuilders implements Builders {
  private cur?: { key: string; kept: KeptContainer; root: string };
  private n = 0;

  constructor(
    private containers: Containers,
    private signal?: AbortSignal,
  ) {}

  get available(): boolean {
    return !!this.containers.keep;
  }

  /** Run one build's command and copy what it left in OUT into `into`. */
  async run(b: KeptBuild, into: string): Promise<void> {
    const cur = await this.ensure(b);
    const id = `b${++this.n}`;
    const hostOut = path.join(cur.root, id);
    await fs.mkdir(hostOut);
    try {
      await cur.kept.exec({ cmd: ['sh', '-c', WRAP, 'sh', ...b.cmd], what: b.cmd.join(' '), env: { ...b.env, OUT: `${OUT_ROOT}/${id}`, WORK: `/work/${id}` }, onLine: b.onLine });
      await takeRegularFiles(hostOut, into);
    } catch (err) {
      await this.release();
      throw err;
    } finally {
      await fs.rm(hostOut, { recursive: true, force: true });
    }
  }

  /** Remove the container and its results directory; idempotent. */
  async release(): Promise<void> {
    const cur = this.cur;
    this.cur = undefined;
    if (!cur) return;
    await cur.kept.release();
    await fs.rm(cur.root, { recursive: true, force: true });
  }

  private async ensure(b: KeptBuild): Promise<{ kept: KeptContainer; root: string }> {
    const key = JSON.stringify([b.image, b.binds, b.tmpfs]);
    if (this.cur?.key === key) return this.cur;
    await this.release();
    const root = await makeScratch('builder');
    try {
      const kept = await this.containers.keep!({ image: b.image, binds: [...b.binds, `${root}:${OUT_ROOT}`], tmpfs: b.tmpfs, labels: b.labels, network: 'none', signal: this.signal });
      this.cur = { key, kept, root };
      return this.cur;
    } catch (err) {
      await fs.rm(root, { recursive: true, force: true });
      throw err;
    }
  }
}
