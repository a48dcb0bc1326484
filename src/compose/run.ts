import type { Runner } from '../host/runner.ts';
import type { Plan, PlanResult } from '../host/plan.ts';
import { emitScript } from '../host/emit-script.ts';
import { planned } from '../host/planned.ts';
import { shQuote } from '../host/quote.ts';
import { wrapScript } from '../host/wrap.ts';
import { parseJournal } from '../host/journal.ts';
import { type ComposeRequest, composeNames } from './request.ts';
import { resolveTable, type ResolvedTable, type TableRequest } from './table.ts';
import { LayoutError } from './layout.ts';
import { planCompose, planDecompose } from './plan-compose.ts';
import { describeComposite, type CompositeReport } from './report.ts';

export interface ComposeOutcome {
  plan?: Plan;
  result: PlanResult;
  report?: CompositeReport;
  summary?: string[];
  script?: string;
  /** A dry run's lines above its table (decompose: the composites it would take apart). */
  preview?: string[];
}

const refused = (plan: string, message: string, runner = 'node'): PlanResult => ({ plan, runner, outcome: 'refused', message, steps: [], ms: 0 });

/** The volume's size as the target sees it (the table depends on it); a refusal message when it has none. */
export async function volumeSize(runner: Runner, volume: string): Promise<number | string> {
  const r = await runner.exec(['sh', '-c', '[ -b "$1" ] || { [ -e "$1" ] && echo "$1 is not a block device" || echo "no such block device: $1"; exit 1; }; blockdev --getsize64 "$1"', 'sh', volume], { nothrow: true });
  if (r.exitCode !== 0) return `${(r.stdout + r.stderr).trim() || `cannot read the size of ${volume}`} (a regular file: attach it with losetup --find --show FILE first, or use --to-file OUT)`;
  const n = Number(r.stdout.trim());
  return Number.isSafeInteger(n) && n >= 0 ? n : `blockdev --getsize64 ${volume} did not print a size: ${JSON.stringify(r.stdout.slice(0, 80))}`;
}

export function tableFor(req: ComposeRequest, volumeBytes: number): ResolvedTable {
  const tr: TableRequest = { table: req.table, volumeBytes, alignBytes: req.alignBytes, type: req.type, name: req.partName, diskGuid: req.diskGuid, partGuid: req.partGuid, diskId: req.diskId };
  return resolveTable(tr);
}

/** Size (asked, or given for an emitted script), table, plan; refusals before any change. */
export async function runCompose(runner: Runner, req: ComposeRequest, mode: 'run' | 'emit', givenSize: number | undefined, generator?: string): Promise<ComposeOutcome> {
  const size = givenSize ?? (await volumeSize(runner, req.volume));
  if (typeof size === 'string') return { result: refused('compose', size, runner.name) };
  let t: ResolvedTable;
  try {
    t = tableFor(req, size);
  } catch (err) {
    if (err instanceof LayoutError) return { result: refused('compose', err.message, runner.name) };
    throw err;
  }
  const plan = planCompose(req, t, size);
  const names = composeNames(req.stateDir, req.name);
  if (mode === 'emit') {
    const said = shQuote(`composed ${names.dev} (partition ${names.partDev}); device-mapper table:`);
    const table = shQuote(`${req.stateDir}/composes/${req.name}.table`);
    // read by the shell: no process for it
    const epilogue = [`if [ $nf_rc = 0 ]; then printf '%s\\n' ${said} >&2; while IFS= read -r nf_l; do printf '%s\\n' "$nf_l" >&2; done < ${table}; fi`];
    return { plan, result: planned(plan), report: describeComposite(req, t, undefined), script: wrapScript(emitScript(plan, { generator }), `nbdforge compose ${req.volume}`, epilogue) };
  }
  const result = await runner.run(plan);
  if (result.outcome !== 'changed' && result.outcome !== 'unchanged') return { plan, result, report: describeComposite(req, t, undefined) };
  const j = await runner.exec(['sh', '-c', 'cat "$1"; echo @@; cat "$2"', 'sh', names.journal, names.journal.replace(/\.jsonl$/, '.table')], { nothrow: true });
  const [journal, table] = j.stdout.split('@@\n');
  return { plan, result, report: describeComposite(req, t, { records: parseJournal(journal ?? ''), table: table ?? '' }) };
}

export async function runDecompose(runner: Runner, stateDir: string, target: { all: true } | { name: string }, mode: 'run' | 'emit', generator?: string): Promise<ComposeOutcome> {
  const plan = planDecompose(stateDir, target);
  if (mode === 'emit') return { plan, result: planned(plan), script: wrapScript(emitScript(plan, { generator }), 'nbdforge decompose', decomposeEpilogue(stateDir)) };
  const result = await runner.run(plan);
  if (result.runner === 'dry-run') return previewDecompose(runner, stateDir, target, plan, result);
  const said = await runner.exec(['cat', `${stateDir}/last-decompose.txt`], { nothrow: true });
  return { plan, result, summary: said.exitCode === 0 ? said.stdout.split('\n').filter(Boolean) : undefined };
}

/** A dry run: the composites the journals name (read-only); a NAME none has fails as the real run does (exit 1). */
async function previewDecompose(runner: Runner, stateDir: string, target: { all: true } | { name: string }, plan: Plan, result: PlanResult): Promise<ComposeOutcome> {
  const r = await runner.exec(['sh', '-c', 'for j in "$1"/composes/*.jsonl; do [ -f "$j" ] && printf "%s\\n" "${j##*/}"; done; exit 0', 'sh', stateDir], { nothrow: true });
  const names = r.stdout.split('\n').filter((l) => l.endsWith('.jsonl')).map((l) => l.slice(0, -'.jsonl'.length));
  const chosen = 'all' in target ? names : names.filter((n) => n === target.name);
  if (!('all' in target) && chosen.length === 0)
    return { plan, result: { ...result, outcome: 'failed', message: `no composite named ${target.name} (journals in ${stateDir}/composes)` }, preview: [] };
  return { plan, result, preview: chosen.length ? chosen.map((n) => `would take apart ${n} (journal ${stateDir}/composes/${n}.jsonl)`) : ['nothing to decompose'] };
}

/** What decompose said, for people (read by the shell: no process). */
function decomposeEpilogue(stateDir: string): string[] {
  const f = shQuote(`${stateDir}/last-decompose.txt`);
  return [`if [ -f ${f} ]; then while IFS= read -r nf_l; do printf '%s\\n' "$nf_l" >&2; done < ${f}; fi`];
}
