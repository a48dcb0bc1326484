import type { Plan, PlanResult, StepResult, StepStatus, Outcome } from './plan.ts';

const STATUSES = new Set<StepStatus>(['already', 'done', 'checked', 'failed', 'undone', 'undo-failed']);
const OUTCOMES = new Set<Outcome>(['changed', 'unchanged', 'nothing-to-do', 'refused', 'failed']);

/**
 * Rebuild a PlanResult from the `@nbdforge ...` records an emitted script printed, so a remote or
 * in-guest run reports exactly like a local one. Lines that are not records are ignored.
 */
export function parseRecords(plan: Plan, stdout: string, exitCode: number, runner: string): PlanResult {
  const steps: StepResult[] = plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'skipped' }));
  const byId = new Map(steps.map((s) => [s.id, s]));
  const messages: string[] = [];
  const details = new Map<string, string[]>();
  let outcome: Outcome | undefined;
  for (const line of stdout.split('\n')) {
    const m = /^@nbdforge (\S+) ?(.*)$/.exec(line);
    if (!m) continue;
    const [, kind, rest] = m;
    if (kind === 'outcome' && OUTCOMES.has(rest as Outcome)) outcome = rest as Outcome;
    else if (kind === 'message') messages.push(rest);
    else if (kind === 'step' || kind === 'detail') {
      const [id, ...more] = rest.split(' ');
      const s = byId.get(id);
      if (!s) continue;
      if (kind === 'detail') details.set(id, [...(details.get(id) ?? []), more.join(' ')]);
      else if (STATUSES.has(more[0] as StepStatus)) {
        s.status = more[0] as StepStatus;
        if (more[1]) s.exitCode = Number(more[1]);
      }
    }
  }
  for (const [id, lines] of details) byId.get(id)!.detail = lines.join('\n');
  if (!outcome) {
    // The script died without a verdict (killed, transport lost): say so rather than guess.
    return { plan: plan.id, runner, outcome: 'failed', message: `no outcome from the script (exit ${exitCode})`, steps, ms: 0 };
  }
  let message = messages.length ? messages.join('\n') : undefined;
  if (outcome === 'failed') {
    const f = steps.find((s) => s.status === 'failed');
    const bad = steps.filter((s) => s.status === 'undo-failed').map((s) => s.id);
    if (f) {
      const msg = `step ${f.id} failed (exit ${f.exitCode})${f.detail ? `: ${f.detail}` : ''}`;
      message = bad.length ? `${msg}; undo failed for ${bad.join(', ')}: host left partly changed` : `${msg}; completed steps were undone`;
    } else message ??= 'interrupted; completed steps were undone';
  }
  return { plan: plan.id, runner, outcome, message, steps, ms: 0 };
}
