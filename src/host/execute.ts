import type { Plan, PlanResult, StepResult, Outcome, CheckResult } from './plan.ts';
import type { ExecResult, ExecOptions } from './runner.ts';
import { lastLines } from './runner.ts';

type Exec = (argv: string[], opts?: ExecOptions) => Promise<ExecResult>;

export interface ExecuteHooks {
  /** Take the plan's lock; a string return is a refusal message. */
  lock?: (path: string) => Promise<{ release(): Promise<void> } | string>;
  log?: (line: string) => void;
  /** True once the run was interrupted (SIGINT/SIGTERM): no further step starts, completed ones are undone. */
  interrupted?: () => boolean;
}

export interface PreconditionStop {
  id: string;
  outcome: 'refused' | 'nothing-to-do';
  message: string;
}

/**
 * The plan's preconditions in order, up to the first that fails (the ones after it are not run, in
 * a dry run as in a real one): what a real run would refuse with, from the same checks. Checks are
 * read-only by contract (they run before the lock), so a dry run may run them on the target.
 */
export async function checkPreconditions(plan: Plan, exec: Exec): Promise<{ checks: CheckResult[]; stop?: PreconditionStop }> {
  const checks: CheckResult[] = [];
  let stop: PreconditionStop | undefined;
  for (const p of plan.preconditions) {
    if (stop) {
      checks.push({ id: p.id, describe: p.describe, status: 'not-checked' });
      continue;
    }
    const r = await exec(p.check, { nothrow: true });
    const out = (r.stdout + r.stderr).trim();
    if (r.exitCode === 0) {
      checks.push({ id: p.id, describe: p.describe, status: 'passed', ...(out ? { detail: lastLines(out, 3) } : {}) });
      continue;
    }
    const outcome = p.otherwise === 'nothing-to-do' ? 'nothing-to-do' : 'refused';
    stop = { id: p.id, outcome, message: out ? `${p.message}: ${lastLines(out, 3)}` : p.message };
    checks.push({ id: p.id, describe: p.describe, status: outcome, ...(out ? { detail: lastLines(out, 3) } : {}) });
  }
  return { checks, stop };
}

/**
 * Run a plan through an exec function: preconditions, lock, probe-then-run each step, and on the
 * first failure the undo of every completed step in reverse. The emitted POSIX script (emit-script.ts)
 * implements the same rules in sh; test/unit/host-emit-script.test.ts holds the two to one behaviour.
 */
export async function executePlan(plan: Plan, exec: Exec, runnerName: string, hooks: ExecuteHooks = {}): Promise<PlanResult> {
  const t0 = Date.now();
  const log = hooks.log ?? (() => {});
  const steps: StepResult[] = plan.steps.map((s) => ({ id: s.id, describe: s.describe, status: 'skipped' }));
  const finish = (outcome: Outcome, message?: string): PlanResult => ({ plan: plan.id, runner: runnerName, outcome, message, steps, ms: Date.now() - t0 });

  const pre = await checkPreconditions(plan, exec);
  if (pre.stop) {
    log(`${pre.stop.id}: ${pre.stop.message}`);
    return finish(pre.stop.outcome, pre.stop.message);
  }

  let held: { release(): Promise<void> } | undefined;
  if (plan.lock && hooks.lock) {
    const got = await hooks.lock(plan.lock);
    if (typeof got === 'string') return finish('refused', got);
    held = got;
  }
  try {
    const completed: number[] = [];
    for (const [i, step] of plan.steps.entries()) {
      if (hooks.interrupted?.()) {
        log('interrupted: undoing completed steps');
        const undoFailed = await undoCompleted(plan, completed, steps, exec, log);
        return finish('failed', undoFailed ? `interrupted; undo failed for ${undoFailed.join(', ')}: host left partly changed` : 'interrupted; completed steps were undone');
      }
      const res = steps[i];
      const s0 = Date.now();
      if (step.probe && (await exec(step.probe, { nothrow: true })).exitCode === 0) {
        res.status = 'already';
        res.ms = Date.now() - s0;
        log(`${step.id}: already done`);
        continue;
      }
      const r = await exec(step.command, { stdin: step.stdin, nothrow: true });
      res.ms = Date.now() - s0;
      if (r.exitCode === 0) {
        res.status = step.readOnly ? 'checked' : 'done';
        log(`${step.id}: ${res.status}`);
        // a step that succeeded but warned: its "warning: ..." lines reach people and the report
        const warned = `${r.stderr}\n${r.stdout}`.split('\n').filter((l) => l.startsWith('warning: '));
        if (warned.length) {
          res.detail = warned.slice(-5).join('\n');
          for (const w of warned) log(`${step.id}: ${w}`);
        }
        completed.push(i);
        continue;
      }
      res.status = 'failed';
      res.exitCode = r.exitCode;
      res.detail = lastLines(r.stderr + r.stdout, 5);
      log(`${step.id}: FAILED (exit ${r.exitCode}) ${res.detail}`);
      const undoFailed = await undoCompleted(plan, completed, steps, exec, log);
      const msg = `step ${step.id} failed (exit ${r.exitCode})${res.detail ? `: ${res.detail}` : ''}`;
      return finish('failed', undoFailed ? `${msg}; undo failed for ${undoFailed.join(', ')}: host left partly changed` : `${msg}; completed steps were undone`);
    }
    return finish(steps.some((s) => s.status === 'done') ? 'changed' : 'unchanged');
  } finally {
    await held?.release();
  }
}

async function undoCompleted(plan: Plan, completed: number[], steps: StepResult[], exec: Exec, log: (l: string) => void): Promise<string[] | undefined> {
  const failed: string[] = [];
  for (const i of [...completed].reverse()) {
    const step = plan.steps[i];
    if (!step.undo) continue;
    const r = await exec(step.undo, { nothrow: true });
    if (r.exitCode === 0) {
      steps[i].status = 'undone';
      log(`${step.id}: undone`);
    } else {
      steps[i].status = 'undo-failed';
      steps[i].detail = lastLines(r.stderr + r.stdout, 5);
      failed.push(step.id);
      log(`${step.id}: UNDO FAILED ${steps[i].detail}`);
    }
  }
  return failed.length ? failed : undefined;
}
