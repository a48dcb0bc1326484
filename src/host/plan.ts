import { type Step, type Precondition, validateId, validateArgv } from './step.ts';

/** An ordered list of Steps, guarded by preconditions and (optionally) a host-wide lock. */
export interface Plan {
  id: string;
  title: string;
  /** Lock directory on the target (mkdir is atomic everywhere); holds the owner's pid. */
  lock?: string;
  preconditions: Precondition[];
  steps: Step[];
}

export function validatePlan(plan: Plan): Plan {
  validateId('plan', plan.id);
  const seen = new Set<string>();
  for (const p of plan.preconditions) {
    validateId('precondition', p.id);
    validateArgv(`precondition ${p.id}`, p.check);
    if (seen.has(`pre:${p.id}`)) throw new Error(`duplicate precondition id ${p.id}`);
    seen.add(`pre:${p.id}`);
  }
  for (const s of plan.steps) {
    validateId('step', s.id);
    if (seen.has(s.id)) throw new Error(`duplicate step id ${s.id}`);
    seen.add(s.id);
    validateArgv(`step ${s.id} command`, s.command);
    validateArgv(`step ${s.id} probe`, s.probe);
    validateArgv(`step ${s.id} undo`, s.undo);
  }
  if (plan.lock !== undefined && !plan.lock.startsWith('/')) throw new Error(`plan lock must be an absolute path: ${plan.lock}`);
  return plan;
}

/** What happened to one step. */
export type StepStatus =
  | 'already' // probe said done; nothing run
  | 'done' // command ran and changed the host
  | 'checked' // read-only step passed
  | 'failed'
  | 'undone' // completed, then taken back after a later failure
  | 'undo-failed'
  | 'skipped' // not reached
  | 'planned'; // dry run

export interface StepResult {
  id: string;
  describe: string;
  status: StepStatus;
  ms?: number;
  /** Output of a failed command or undo. */
  detail?: string;
  exitCode?: number;
}

export type Outcome = 'changed' | 'unchanged' | 'nothing-to-do' | 'refused' | 'failed' | 'dry-run';

/** A precondition as a dry run evaluated it on the target (read-only, in the real run's order). */
export interface CheckResult {
  id: string;
  describe: string;
  /** passed; refused / nothing-to-do: the real run would stop here; not-checked: after a stop, as in the real run */
  status: 'passed' | 'refused' | 'nothing-to-do' | 'not-checked';
  /** What the check printed. */
  detail?: string;
}

export interface PlanResult {
  plan: string;
  runner: string;
  outcome: Outcome;
  /** Why the run stopped early (precondition, lock) or failed. */
  message?: string;
  steps: StepResult[];
  ms: number;
  /** A dry run's evaluated preconditions. */
  checks?: CheckResult[];
}

/** Exit status for a finished plan; the emitted script uses the same numbers. */
export function exitCodeOf(outcome: Outcome): number {
  switch (outcome) {
    case 'failed':
      return 1;
    case 'refused':
      return 3;
    default:
      return 0;
  }
}
