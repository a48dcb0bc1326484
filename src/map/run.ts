import type { Runner } from '../host/runner.ts';
import type { Plan, PlanResult } from '../host/plan.ts';
import { emitScript } from '../host/emit-script.ts';
import { planned } from '../host/planned.ts';
import { planMap } from './plan-map.ts';
import { planUnmap, type UnmapTarget } from './plan-unmap.ts';
import { planExport, type ResolvedExport } from './plan-export.ts';
import type { ResolvedMap } from './request.ts';
import { type MapState, parseJournal, mapState } from '../host/journal.ts';
import { previewUnmap, withPreview } from './unmap-preview.ts';
import { wrapScript, mapEpilogue, unmapEpilogue, exportEpilogue } from '../host/wrap.ts';

export type RunMode = 'run' | 'emit';

export interface MapOutcome {
  /** Absent when the command refused before it could plan (compose: no volume size). */
  plan?: Plan;
  result: PlanResult;
  /** The journal after the run (map, export) when it succeeded. */
  state?: MapState;
  /** What unmap said, line by line. */
  summary?: string[];
  /** mode emit: the standalone script. */
  script?: string;
  /** A dry run's lines for people above its table (unmap: what the journals would undo). */
  preview?: string[];
}

async function readState(runner: Runner, journal: string): Promise<MapState | undefined> {
  const r = await runner.exec(['cat', journal], { nothrow: true });
  return r.exitCode === 0 ? mapState(parseJournal(r.stdout)) : undefined;
}

export async function runMap(runner: Runner, m: ResolvedMap, mode: RunMode, generator?: string, seen?: string): Promise<MapOutcome> {
  const t0 = Date.now();
  const plan = planMap(m, seen);
  if (mode === 'emit') {
    const script = wrapScript(emitScript(plan, { generator }), `nbdforge map ${m.image}`, mapEpilogue(m.journal));
    return { plan, result: planned(plan, Date.now() - t0), script };
  }
  const result = await runner.run(plan);
  const ok = result.outcome === 'changed' || result.outcome === 'unchanged';
  return { plan, result, state: ok ? await readState(runner, m.journal) : undefined };
}

export async function runUnmap(runner: Runner, stateDir: string, target: UnmapTarget, mode: RunMode, generator?: string): Promise<MapOutcome> {
  const t0 = Date.now();
  const plan = planUnmap(stateDir, target);
  if (mode === 'emit') return { plan, result: planned(plan, Date.now() - t0), script: wrapScript(emitScript(plan, { generator }), 'nbdforge unmap', unmapEpilogue(stateDir)) };
  const result = await runner.run(plan);
  if (result.runner === 'dry-run') {
    const p = await previewUnmap(runner, stateDir, target);
    return { plan, result: withPreview(result, p.failure), preview: p.lines };
  }
  const said = await runner.exec(['cat', `${stateDir}/last-unmap.txt`], { nothrow: true });
  return { plan, result, summary: said.exitCode === 0 ? said.stdout.split('\n').filter(Boolean) : undefined };
}

export function exportLines(e: ResolvedExport): string[] {
  return [
    `serving ${e.image} at ${e.url}${e.readOnly ? ' (read-only)' : ''}${e.persistent ? '' : ' (until the first client disconnects; --persistent keeps it up)'}`,
    `qemu: ${e.drive}`,
    `check: qemu-img info ${e.url}`,
    `stop: nbdforge export --stop ${e.image}  (or nbdforge unmap ${e.image})`,
    ...(e.exposed ? [`WARNING: bound to ${e.bind}: anyone who can reach port ${e.port} can read${e.readOnly ? '' : ' and write'} this disk (NBD has no authentication here)`] : []),
  ];
}

export async function runExport(runner: Runner, e: ResolvedExport, mode: RunMode, generator?: string): Promise<MapOutcome> {
  const t0 = Date.now();
  const plan = planExport(e);
  if (mode === 'emit') return { plan, result: planned(plan, Date.now() - t0), script: wrapScript(emitScript(plan, { generator }), `nbdforge export ${e.image}`, exportEpilogue(exportLines(e))) };
  const result = await runner.run(plan);
  const ok = result.outcome === 'changed' || result.outcome === 'unchanged';
  return { plan, result, state: ok ? await readState(runner, `${e.stateDir}/maps/${e.id}.jsonl`) : undefined };
}
