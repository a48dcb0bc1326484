import { type CommandContext, UsageError } from './context.ts';
import type { Paths } from '../paths.ts';
import { getFamily } from '../families/index.ts';
import { openSession } from './session.ts';
import { loadModuleSpec } from '../build/module-spec.ts';
import { runMatrix, type MatrixResult } from '../build/matrix.ts';
import { resolveKernel } from '../build/build-one.ts';
import { ProgressView } from '../build/progress.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import type { Signer } from '../build/signer.ts';

export interface BuildsOptions {
  family: string;
  module: string;
  /** Explicit kernel releases, or undefined for the selection below. */
  kernels?: string[];
  latest?: number;
  /** Only kernels of this point release (families whose kernels carry one: el7). */
  release?: string;
  jobs: number;
  force: boolean;
  oracle: boolean;
  /** Sign every verified module (build/matrix --sign-key/--sign-cert). */
  signer?: Signer;
  json: boolean;
}

/** Shared by `build` (one kernel) and `matrix` (many): resolve everything, run, report, exit code. */
export async function runBuilds(opts: BuildsOptions, paths: Paths, ctx: CommandContext): Promise<number> {
  const family = getFamily(opts.family, ctx.env);
  const module = await loadModuleSpec(opts.module);
  const store = new DirStore(paths.store);
  const session = await openSession(paths, ctx.env, (l) => ctx.stderr.write(`  ${l.trimEnd()}\n`));
  try {
    let { kernels: known } = await family.catalog(session);
    const catalog = known;
    if (opts.release) {
      const of = (k: object) => (k as { release?: unknown }).release;
      if (!known.some((k) => of(k) !== undefined)) throw new UsageError(`--release applies to families with point releases (el7), not ${family.name}`);
      const releases = [...new Set(known.map(of))].join(', ');
      known = known.filter((k) => of(k) === opts.release);
      if (known.length === 0) throw new UsageError(`no ${family.name} kernels for release ${opts.release} in the catalog (releases: ${releases})`);
    }
    let selected: string[];
    if (opts.kernels) selected = opts.kernels.map((k) => resolveKernel(known, k, family.name).kernelRelease);
    else if (opts.latest !== undefined) selected = known.slice(-opts.latest).map((k) => k.kernelRelease);
    else selected = known.map((k) => k.kernelRelease);
    if (selected.length === 0) throw new UsageError('no kernels selected');

    // Progress goes to stderr even with --json: stdout carries only the JSON summary.
    const view = new ProgressView(ctx.stderr, selected);
    const t0 = Date.now();
    const results = await runMatrix(
      session,
      { family, module, store, force: opts.force, oracle: opts.oracle, signer: opts.signer, toolVersion: ctx.version, catalog },
      selected,
      opts.jobs,
      (e) => view?.event(e),
    );
    view?.stop();
    const wall = Date.now() - t0;
    if (opts.json) ctx.stdout.write(JSON.stringify(summary(results, wall, paths.store), null, 2) + '\n');
    else report(results, wall, paths.store, ctx);
    return results.every((r) => r.status !== 'failed') ? 0 : 1;
  } finally {
    session.close();
  }
}

function summary(results: MatrixResult[], wallMs: number, store: string) {
  return {
    store,
    wallMs,
    ok: results.every((r) => r.status !== 'failed'),
    counts: {
      built: results.filter((r) => r.status === 'built').length,
      cached: results.filter((r) => r.status === 'cached').length,
      failed: results.filter((r) => r.status === 'failed').length,
    },
    kernels: results.map((r) => ({
      kernelRelease: r.kernelRelease,
      status: r.status,
      durationMs: r.durationMs,
      ...(r.outcome
        ? {
            key: r.outcome.key,
            path: `${store}/${r.outcome.artifact.dir}/${r.outcome.artifact.file}`,
            sha256: r.outcome.manifest.sha256,
            vermagic: r.outcome.manifest.vermagic,
            checks: r.outcome.manifest.checks,
            ...(r.outcome.manifest.signature ? { signature: r.outcome.manifest.signature.signer } : {}),
          }
        : {}),
      ...(r.error ? { error: r.error.message } : {}),
    })),
  };
}

function report(results: MatrixResult[], wallMs: number, store: string, ctx: CommandContext): void {
  const w = Math.max(6, ...results.map((r) => r.kernelRelease.length));
  ctx.stdout.write(`${'KERNEL'.padEnd(w)}  STATUS  TIME    SHA256        CHECKS\n`);
  for (const r of results) {
    const m = r.outcome?.manifest;
    const checks = m ? m.checks.map((c) => `${c.name}:${c.ok ? 'ok' : 'FAIL'}`).join(' ') : '';
    ctx.stdout.write(`${r.kernelRelease.padEnd(w)}  ${r.status.padEnd(6)}  ${`${(r.durationMs / 1000).toFixed(1)}s`.padEnd(6)}  ${(m?.sha256.slice(0, 12) ?? '-').padEnd(12)}  ${checks}\n`);
  }
  for (const r of results.filter((x) => x.error)) {
    ctx.stderr.write(`\n${r.kernelRelease}: ${r.error!.name !== 'Error' ? r.error!.name + ': ' : ''}${r.error!.message}\n`);
  }
  const failed = results.filter((r) => r.status === 'failed').length;
  ctx.stdout.write(`\n${results.length - failed}/${results.length} ok in ${(wallMs / 1000).toFixed(1)}s; store: ${store}\n`);
}
