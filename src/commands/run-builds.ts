import path from 'node:path';
import { type CommandContext, UsageError } from './context.ts';
import type { Paths } from '../paths.ts';
import { familyOfRelease, getFamily } from '../families/index.ts';
import { openSession } from './session.ts';
import { loadModuleSpec } from '../module-spec/module-spec.ts';
import { loadPatchRules } from '../module-spec/patches.ts';
import { runMatrix, type MatrixResult } from '../builder/matrix.ts';
import { resolveKernel } from '../builder/build-one.ts';
import { ProgressView } from '../builder/progress.ts';
import { DirStore } from '../artifacts/dir-store.ts';
import { isSafeName } from '../artifacts/store-layout.ts';
import type { OptionValues } from '../families/family.ts';
import type { Signer } from '../builder/signer.ts';
// run-proofs (QEMU, zx) is loaded only with --prove: a cached matrix re-run loads neither
import type { ProofsOptions } from './run-proofs.ts';
import { NOT_BUILT, STATE_HEADER, stateColumns, storeStates, type ArtifactState } from '../prove/status.ts';

export interface BuildsOptions {
  family: string;
  module: string;
  /** Explicit kernel releases, or undefined for the selection below. */
  kernels?: string[];
  latest?: number;
  /** Values of the family's own selectors (el7: --release), applied by the family. */
  selectors?: OptionValues;
  jobs: number;
  /** Only kernels with no artifact in the store yet (a kernel published today gets its module today). */
  missing?: boolean;
  /** Print the selection (split into this many shards) instead of building: what a CI list job needs. */
  list?: { shards: number };
  force: boolean;
  oracle: boolean;
  /** Sign every verified module (build/matrix --sign-key/--sign-cert). */
  signer?: Signer;
  json: boolean;
  /** --timeout S: every download's and apt run's bounds (NBDFORGE_TIMEOUT otherwise). */
  timeout?: string;
  /** matrix --prove: prove every artifact built or found, after the builds. */
  prove?: ProofsOptions;
}

/** NBDFORGE_BUILDER_IDLE: seconds a builder container stays up after a build for the next one (0: none kept). */
export const DEFAULT_BUILDER_IDLE = 60;
export function builderIdle(env: NodeJS.ProcessEnv): number {
  const v = env.NBDFORGE_BUILDER_IDLE;
  if (v === undefined || v === '') return DEFAULT_BUILDER_IDLE;
  if (!/^\d{1,6}$/.test(v)) throw new UsageError(`NBDFORGE_BUILDER_IDLE takes whole seconds (0 keeps no builder between builds), not ${JSON.stringify(v)}`);
  return Number(v);
}

/** Shared by `build` (one kernel) and `matrix` (many): resolve everything, run, report, exit code. */
export async function runBuilds(opts: BuildsOptions, paths: Paths, ctx: CommandContext): Promise<number> {
  const idleSeconds = builderIdle(ctx.env);
  // A kernel release becomes a directory name in the store: refuse anything that is not a plain name.
  for (const k of opts.kernels ?? []) if (!isSafeName(k)) throw new UsageError(`--kernel ${JSON.stringify(k)} is not a kernel release (see: nbdforge kernels --family ${opts.family})`);
  const family = getFamily(opts.family, ctx.env);
  const module = await loadModuleSpec(opts.module);
  // log lines go through the live view once there is one, so it never draws over them
  let say = (l: string): void => void ctx.stderr.write(`  ${l.trimEnd()}\n`);
  const session = await openSession(paths, ctx.env, (l) => say(l), { timeout: opts.timeout, json: opts.json });
  // A writer repairs what it can: a corrupt index is kept aside and rebuilt from the artifacts that verify.
  const store = new DirStore(paths.store, { signal: session.signal, onRepair: (m) => ctx.stderr.write(`nbdforge: store repaired: ${m}\n`) });
  try {
    const { kernels: catalog } = await family.catalog(session);
    const select = family.cli?.selectors?.select;
    const known = select && opts.selectors ? select(catalog, opts.selectors) : catalog;
    let selected: string[];
    if (opts.kernels) selected = opts.kernels.map((k) => resolveKernel(known, k, family.name, familyOfRelease(k)).kernelRelease);
    else if (opts.latest !== undefined) selected = known.slice(-opts.latest).map((k) => k.kernelRelease);
    else selected = known.map((k) => k.kernelRelease);
    if (opts.missing) {
      const have = new Set((await store.list({ family: family.name, module: module.name })).map((e) => e.kernelRelease));
      selected = selected.filter((k) => !have.has(k));
    }
    if (opts.list) return listSelection(selected, opts.list.shards, family.name, opts.json, ctx, await storeStates(paths.store, family.name, module.name));
    if (selected.length === 0) {
      if (!opts.missing) throw new UsageError('no kernels selected');
      ctx.stderr.write(`nothing missing: every selected ${family.name} kernel has an artifact in ${paths.store}\n`);
      if (opts.json) ctx.stdout.write(JSON.stringify(summary([], 0, paths.store), null, 2) + '\n');
      return 0;
    }

    // Progress goes to stderr even with --json: stdout carries only the JSON summary.
    const view = new ProgressView(ctx.stderr, selected);
    say = (l) => {
      view.log(`  ${l.trimEnd()}`);
    };
    const t0 = Date.now();
    const results = await runMatrix(
      session,
      { family, module, store, patchRules: loadPatchRules(module), force: opts.force, oracle: opts.oracle, signer: opts.signer, toolVersion: ctx.version, catalog, shared: { idleSeconds, root: path.join(paths.cache, 'builders') } },
      selected,
      opts.jobs,
      (e) => view?.event(e),
    );
    view?.stop();
    const wall = Date.now() - t0;
    const entries = results.flatMap((r) => (r.outcome ? [r.outcome.artifact] : []));
    const rp = opts.prove && entries.length ? await import('./run-proofs.ts') : undefined;
    const proofs = rp && opts.prove ? await rp.proveEntries(opts.prove, entries, { family, session, store, catalog, cacheRoot: paths.cache, toolVersion: ctx.version }, ctx) : undefined;
    if (opts.json) ctx.stdout.write(JSON.stringify({ ...summary(results, wall, paths.store), ...(proofs && rp ? { proofs: rp.proofsJson(proofs, paths.store) } : {}) }, null, 2) + '\n');
    else report(results, wall, paths.store, ctx);
    const kept = results.find((r) => r.outcome?.builder);
    if (kept && !opts.json) ctx.stderr.write(`builder container ${kept.outcome!.builder!.container} stays up ${idleSeconds} s after its last build for the next one (NBDFORGE_BUILDER_IDLE=0: none; nbdforge cleanup --builders stops it now)\n`);
    if (proofs && rp && !opts.json) rp.reportProofs(proofs, paths.store, ctx);
    // A repaired artifact is said on stderr whatever the output format.
    for (const r of results.filter((x) => x.outcome?.repaired)) ctx.stderr.write(`${opts.json ? '' : '\n'}${r.kernelRelease}: ${r.outcome!.repaired}\n`);
    return results.every((r) => r.status !== 'failed') && (proofs?.ok ?? true) ? 0 : 1;
  } finally {
    session.close();
  }
}

/** Round-robin shards, so each runner gets a mix of old and new kernels; no empty shard. */
export function shardKernels(kernels: string[], shards: number): string[][] {
  const out: string[][] = Array.from({ length: Math.min(shards, kernels.length) }, () => []);
  kernels.forEach((k, i) => out[i % out.length].push(k));
  return out;
}

/** The selection, with what the store holds of each kernel (built / verified / proven). */
function listSelection(kernels: string[], shards: number, family: string, json: boolean, ctx: CommandContext, states: Map<string, ArtifactState>): number {
  const split = shardKernels(kernels, shards);
  const state = (k: string) => states.get(k) ?? NOT_BUILT;
  const w = Math.max(6, ...kernels.map((k) => k.length));
  const line = (k: string, indent = '') => `${indent}${k.padEnd(w)}  ${stateColumns(state(k))}`;
  const head = (indent = '') => `${indent}${'KERNEL'.padEnd(w)}  ${STATE_HEADER}`;
  if (json) {
    const status = kernels.map((k) => ({ kernelRelease: k, built: state(k).built, verified: state(k).verified, proven: state(k).proven }));
    ctx.stdout.write(JSON.stringify({ family, count: kernels.length, kernels, shards: split.map((s) => s.join(',')), status }) + '\n');
  } else if (kernels.length === 0) ctx.stdout.write('nothing to build\n');
  else if (split.length === 1) ctx.stdout.write(`${kernels.length} ${family} kernel${kernels.length === 1 ? '' : 's'}:\n${head()}\n${kernels.map((k) => line(k)).join('\n')}\n`);
  else ctx.stdout.write(`${kernels.length} ${family} kernels in ${split.length} shards:\n${split.map((s, i) => `shard ${i + 1}/${split.length} (${s.length}):\n${head('  ')}\n${s.map((k) => line(k, '  ')).join('\n')}`).join('\n')}\n`);
  return 0;
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
      ...(r.outcome?.repaired ? { repaired: r.outcome.repaired } : {}),
      ...(r.outcome?.builder ? { builder: r.outcome.builder } : {}),
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
    ctx.stderr.write(`\n${r.kernelRelease}: ${r.error!.message}\n`);
  }
  const failed = results.filter((r) => r.status === 'failed').length;
  ctx.stdout.write(`\n${results.length - failed}/${results.length} ok in ${(wallMs / 1000).toFixed(1)}s; store: ${store}\n`);
}
