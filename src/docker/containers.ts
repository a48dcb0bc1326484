import type { Engine } from './engine.ts';
import { ensureImage, type BuiltImage, type ImageSpec } from './image.ts';
import { runContainer, type RunResult, type RunSpec } from './run.ts';

/**
 * The one door to the container engine for builds: make sure an image exists, run a container
 * (labelled, killed and removed on abort) and copy its output directory out. buildOne and the
 * families receive this, so unit tests pass a fake; dockerode stays behind dockerContainers().
 */
export interface Containers {
  ensureImage(spec: ImageSpec, onLog?: (line: string) => void): Promise<BuiltImage>;
  /** Runs to completion; `spec.collect` copies a directory out of the container before it is removed. */
  run(spec: RunSpec): Promise<RunResult>;
}

export function dockerContainers(engine: Engine): Containers {
  return {
    ensureImage: (spec, onLog) => ensureImage(engine, spec, onLog),
    run: (spec) => runContainer(engine, spec),
  };
}

/** The context's door, or the engine's own when a caller only handed an engine. */
export function containersOf(ctx: { docker: Engine; containers?: Containers }): Containers {
  return ctx.containers ?? dockerContainers(ctx.docker);
}
