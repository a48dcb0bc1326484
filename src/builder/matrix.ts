import type { FamilyContext } from '../families/family.ts';
import { buildOne, type BuildOutcome, type BuildRequest, type Stage } from './build-one.ts';
import { KeptBuilders, type Builders } from './kept-builders.ts';
import { SharedBuilders, type SharedOptions } from './shared-builders.ts';

export interface MatrixResult {
  kernelRelease: string;
  status: 'built' | 'cached' | 'failed';
  durationMs: number;
  outcome?: BuildOutcome;
  error?: Error;
}

export type MatrixEvent =
  | { type: 'stage'; kernelRelease: string; stage: Stage }
  | { type: 'done'; result: MatrixResult };

/**
 * Build many kernels with at most `jobs` at once. One failure never stops the others; every kernel
 * ends as built, cached or failed. An abort stops new work and fails what is running.
 */
export async function runMatrix(
  ctx: FamilyContext,
  base: Omit<BuildRequest, 'kernelRelease' | 'onStage' | 'builders'> & {
    keep?: boolean;
    /** Builders kept between processes (NBDFORGE_BUILDER_IDLE above 0): every worker builds in them, a one-kernel build too. */
    shared?: Omit<SharedOptions, 'signal'>;
  },
  kernels: string[],
  jobs: number,
  onEvent: (e: MatrixEvent) => void = () => {},
): Promise<MatrixResult[]> {
  const results = new Array<MatrixResult>(kernels.length);
  let next = 0;
  const workers = Math.max(1, Math.min(jobs, kernels.length));
  // A worker that builds one kernel only gains nothing from a kept builder (it costs a little more
  // than a container of its own: `npm run bench -- container`), so a one-kernel build does not keep one.
  const reuse = kernels.length > workers;
  const door = ctx.containers;
  // The builders kept between processes serve every worker at once (each build is an exec of its own).
  const shared = base.shared && base.shared.idleSeconds > 0 && base.keep !== false && door?.shared ? new SharedBuilders(door, { ...base.shared, signal: ctx.signal }) : undefined;
  const worker = async () => {
    // Else one builder container per worker, reused from kernel to kernel (keep: false, one per kernel).
    const builders: Builders | undefined = shared ?? (!reuse || base.keep === false || !door?.keep ? undefined : new KeptBuilders(door, ctx.signal));
    try {
      await work(builders);
    } finally {
      await builders?.release();
    }
  };
  const work = async (builders?: Builders) => {
    while (next < kernels.length) {
      const i = next++;
      const krel = kernels[i];
      const t0 = Date.now();
      let r: MatrixResult;
      if (ctx.signal?.aborted) {
        r = { kernelRelease: krel, status: 'failed', durationMs: 0, error: new Error('interrupted before start') };
      } else {
        try {
          const outcome = await buildOne(ctx, { ...base, builders, kernelRelease: krel, onStage: (stage) => onEvent({ type: 'stage', kernelRelease: krel, stage }) });
          r = { kernelRelease: krel, status: outcome.status, durationMs: Date.now() - t0, outcome };
        } catch (err) {
          r = { kernelRelease: krel, status: 'failed', durationMs: Date.now() - t0, error: err as Error };
        }
      }
      results[i] = r;
      onEvent({ type: 'done', result: r });
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
