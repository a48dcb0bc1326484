import type { Engine } from './engine.ts';
import { ensureImage, type BuiltImage, type ImageSpec } from './image.ts';
import { runContainer, type RunResult, type RunSpec } from './run.ts';
import { keepContainer, type KeepSpec, type KeptContainer } from './kept.ts';
import { sharedContainer, type SharedContainer, type SharedSpec } from './shared.ts';

/**
 * The one door to the container engine for builds: make sure an image exists, run a container
 * (labelled, killed and removed on abort) and copy its output directory out. buildOne and the
 * families receive this, so unit tests pass a fake; dockerode stays behind dockerContainers().
 */
export interface Containers {
  ensureImage(spec: ImageSpec, onLog?: (line: string) => void): Promise<BuiltImage>;
  /** Runs to completion; `spec.collect` copies a directory out of the container before it is removed. */
  run(spec: RunSpec): Promise<RunResult>;
  /** A container kept running for several execs (see kept.ts); a door without it runs one container per build. */
  keep?(spec: KeepSpec): Promise<KeptContainer>;
  /** The builder kept between processes for this spec, found or made (see shared.ts). */
  shared?(spec: SharedSpec): Promise<SharedContainer>;
}

export function dockerContainers(engine: Engine): Containers {
  return {
    ensureImage: (spec, onLog) => ensureImage(engine, spec, onLog),
    run: (spec) => runContainer(engine, spec),
    keep: (spec) => keepContainer(engine, spec),
    shared: (spec) => sharedContainer(engine, spec),
  };
}

/**
 * The same door, with each image ensured once for its lifetime (one command's run): a matrix of 36
 * kernels asks for the same builder 36 times, and each ask hashes the build context and inspects two
 * images. A failed ensure is not kept, so the next ask tries again.
 */
export function onceImages(inner: Containers): Containers {
  const images = new Map<string, Promise<BuiltImage>>();
  return {
    ensureImage(spec, onLog) {
      const key = JSON.stringify([spec.repo, spec.contextDir, spec.baseImage, Object.entries(spec.buildArgs).sort()]);
      let p = images.get(key);
      if (!p) {
        p = inner.ensureImage(spec, onLog);
        images.set(key, p);
        p.catch(() => images.delete(key));
      }
      return p;
    },
    run: (spec) => inner.run(spec),
    ...passKept(inner),
  };
}

/** A wrapping door's pass-through of the inner door's kept and shared builders (when it has them). */
export function passKept(inner: Containers): Pick<Containers, 'keep' | 'shared'> {
  return { ...(inner.keep ? { keep: inner.keep.bind(inner) } : {}), ...(inner.shared ? { shared: inner.shared.bind(inner) } : {}) };
}

/** The context's door; a caller that needs a container and was handed none is a programming error. */
export function containersOf(ctx: { containers?: Containers }): Containers {
  if (!ctx.containers) throw new Error('no container door: the context carries no containers');
  return ctx.containers;
}
