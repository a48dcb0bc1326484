/** Shared by `prove` and `matrix --prove`: prove a selection of stored artifacts, report, exit status. */
import type { CommandContext } from './context.ts';
import type { Family, FamilyContext, KernelEntry } from '../families/family.ts';
import type { DirStore, IndexEntry } from '../artifacts/dir-store.ts';
import { ProgressView } from '../builder/progress.ts';
import { proveMany, settleQemu, missingTools, type ProveResult } from '../prove/run.ts';
import type { AccelChoice } from '../prove/accel.ts';
import path from 'node:path';

export interface ProofsOptions {
  jobs: number;
  force: boolean;
  json: boolean;
  /** Each guest's deadline from start to verdict. */
  timeoutMs: number;
  accel: AccelChoice;
}

export interface ProofsRun {
  results: ProveResult[];
  wallMs: number;
  ok: boolean;
}

/** Prove `entries` (artifacts of `family` in `store`), drawing progress on stderr; prints nothing else. */
export async function proveEntries(
  o: ProofsOptions,
  entries: IndexEntry[],
  env: { family: Family; session: FamilyContext; store: DirStore; catalog: KernelEntry[]; cacheRoot: string; toolVersion: string },
  ctx: CommandContext,
): Promise<ProofsRun> {
  const byRelease = new Map(env.catalog.map((k) => [k.kernelRelease, k]));
  const view = new ProgressView(ctx.stderr, entries.map((e) => e.kernelRelease));
  const log = (l: string) => view.log(`  ${l.trimEnd()}`);
  const cacheDir = path.join(env.cacheRoot, 'prove');
  const settle = settleQemu({ want: o.accel, cacheDir, log });
  const t0 = Date.now();
  const items = entries.map((entry) => ({ entry, kernel: byRelease.get(entry.kernelRelease) ?? { family: entry.family, kernelRelease: entry.kernelRelease, sourceVersion: '', files: [] } }));
  const results = await proveMany(
    {
      family: env.family,
      ctx: { ...env.session, log },
      store: env.store,
      cacheDir,
      // the host's tools are checked when the first guest is needed: a run of cache hits needs none
      qemu: async (g) => {
        const missing = await missingTools(ctx.env);
        if (missing.length) throw new Error(`prove needs ${missing.join(', ')} on this host (Debian: apt-get install qemu-system-x86 qemu-utils busybox-static dash kmod cpio)`);
        return settle(g);
      },
      timeoutMs: o.timeoutMs,
      force: o.force,
      toolVersion: env.toolVersion,
    },
    items,
    o.jobs,
    (e) => view.event(e),
  );
  view.stop();
  return { results, wallMs: Date.now() - t0, ok: results.every((r) => r.status === 'proven' || r.status === 'cached') };
}

export function proofsJson(run: ProofsRun, store: string) {
  const count = (s: ProveResult['status']) => run.results.filter((r) => r.status === s).length;
  return {
    store,
    wallMs: run.wallMs,
    ok: run.ok,
    counts: { proven: count('proven'), cached: count('cached'), failed: count('failed'), unproven: count('unproven') },
    kernels: run.results.map((r) => ({
      kernelRelease: r.kernelRelease,
      status: r.status,
      durationMs: r.durationMs,
      bootMs: r.bootMs,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.record ? { key: r.record.key, kernelPackage: r.record.kernelPackage, qemu: r.record.qemu, taint: r.record.taint, signature: r.record.signature, checks: r.record.checks } : {}),
    })),
  };
}

export function reportProofs(run: ProofsRun, store: string, ctx: CommandContext): void {
  const w = Math.max(6, ...run.results.map((r) => r.kernelRelease.length));
  ctx.stdout.write(`${'KERNEL'.padEnd(w)}  PROOF     TIME    CHECKS\n`);
  for (const r of run.results) {
    const checks = r.record ? r.record.checks.map((c) => `${c.name}:${c.ok ? 'ok' : 'FAIL'}`).join(' ') : '';
    ctx.stdout.write(`${r.kernelRelease.padEnd(w)}  ${r.status.padEnd(8)}  ${`${(r.durationMs / 1000).toFixed(1)}s`.padEnd(6)}  ${checks}\n`);
  }
  for (const r of run.results.filter((x) => x.reason)) ctx.stderr.write(`\n${r.kernelRelease}: ${r.status}: ${r.reason}\n`);
  const good = run.results.filter((r) => r.status === 'proven' || r.status === 'cached').length;
  const cached = run.results.filter((r) => r.status === 'cached').length;
  ctx.stdout.write(`\n${good}/${run.results.length} proven${cached ? ` (${cached} from the prove cache, no boot)` : ''} in ${(run.wallMs / 1000).toFixed(1)}s; store: ${store}\n`);
}
